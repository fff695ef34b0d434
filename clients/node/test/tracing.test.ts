// The OpenTelemetry seam (tracing.ts) with a small stand-in for @opentelemetry/api (not installed
// here): W3C traceparent into the headers on enqueue, the consumer span continued from them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "../src/client.js";
import { otelTracing, withContext, type OtelApi, type OtelSpan } from "../src/tracing.js";
import { Outcome } from "../src/worker/execution.js";
import { makeContext } from "../src/testing.js";

interface Ctx { traceId?: string; spanId?: string }
class FakeSpan implements OtelSpan {
  attributes: Record<string, string | number> = {};
  events: [string, Record<string, string> | undefined][] = [];
  exceptions: unknown[] = [];
  status: { code: number; message?: string } | undefined;
  ended = false;
  constructor(readonly name: string, readonly kind: number, readonly traceId: string, readonly spanId: string,
    readonly parentSpanId: string | undefined) {}
  setAttribute(k: string, v: string | number) { this.attributes[k] = v; return this; }
  recordException(e: unknown) { this.exceptions.push(e); }
  setStatus(s: { code: number; message?: string }) { this.status = s; return this; }
  addEvent(name: string, attributes?: Record<string, string>) { this.events.push([name, attributes]); return this; }
  end() { this.ended = true; }
}

function fakeApi() {
  const spans: FakeSpan[] = [];
  let active: Ctx = {};
  let n = 0;
  const hex = (len: number) => (++n).toString(16).padStart(len, "0");
  const api: OtelApi = {
    context: { active: () => active },
    propagation: {
      inject: (ctx, carrier) => {
        const c = ctx as Ctx;
        if (c.traceId) carrier["traceparent"] = `00-${c.traceId}-${c.spanId}-01`;
      },
      extract: (_ctx, carrier) => {
        const [, traceId, spanId] = (carrier["traceparent"] ?? "").split("-");
        return { traceId, spanId };
      },
    },
    trace: {
      getTracer: () => ({
        startActiveSpan: (name, options, ctx, fn) => {
          const parent = ctx as Ctx;
          const span = new FakeSpan(name, options.kind, parent.traceId ?? hex(32), hex(16), parent.spanId);
          Object.assign(span.attributes, options.attributes);
          spans.push(span);
          const saved = active;
          active = { traceId: span.traceId, spanId: span.spanId };
          try { return fn(span) as any; } finally { active = saved; }
        },
      }),
    },
  };
  return { api, spans };
}

test("enqueue: a PRODUCER span whose traceparent goes into the job's headers", async () => {
  const { api, spans } = fakeApi();
  const client = new Client({ tracing: otelTracing(api) });
  let sent: any;
  (client as any).transport = { unary: async (_m: unknown, request: unknown) => { sent = request; return { jobId: "j-1", created: true }; },
    pause: async () => {}, close() {} };
  const made = await client.enqueue("emails", "send", { to: "a" }, { headers: { x: "1" } });
  assert.equal(made.jobId, "j-1");
  const [span] = spans;
  assert.equal(span!.name, "enqueue emails");
  assert.equal(span!.kind, 3); // PRODUCER
  assert.equal(span!.attributes["messaging.system"], "broker");
  assert.equal(span!.attributes["messaging.destination.name"], "emails");
  assert.ok(span!.ended);
  assert.equal(sent.job.headers.traceparent, `00-${span!.traceId}-${span!.spanId}-01`);
  assert.equal(sent.job.headers.x, "1");
  client.close();
});

test("the caller's own traceparent is kept", () => {
  const mine = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
  assert.equal(withContext(mine, () => assert.fail("no inject")), mine);
});

test("process: a CONSUMER span continued from the job's headers; a failure recorded", async () => {
  const { api, spans } = fakeApi();
  const tracing = otelTracing(api);
  const headers = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
  const ctx = makeContext(new Uint8Array(), { jobId: "j-2", kind: "send", queue: "emails", attempt: 2, headers });
  const boom = new Error("failed on purpose");
  let activeInHandler: any;
  const outcome = await tracing.process(ctx, async () => {
    activeInHandler = api.context.active();
    return new Outcome(false, "Error: failed on purpose\n at ...", false, undefined, undefined, boom);
  });
  assert.equal(outcome.ok, false);
  const [span] = spans;
  assert.equal(span!.name, "process emails");
  assert.equal(span!.kind, 4); // CONSUMER
  assert.equal(span!.traceId, "0af7651916cd43dd8448eb211c80319c");
  assert.equal(span!.parentSpanId, "b7ad6b7169203331");
  assert.equal(activeInHandler.spanId, span!.spanId); // the handler runs inside the span
  assert.deepEqual([span!.attributes["messaging.message.id"], span!.attributes["broker.job.kind"], span!.attributes["broker.job.attempt"]],
    ["j-2", "send", 2]);
  assert.deepEqual(span!.exceptions, [boom]);
  assert.deepEqual(span!.status, { code: 2, message: "Error: failed on purpose" });
  assert.deepEqual(span!.events, [["settle", { "broker.settle": "nack" }]]);
  assert.ok(span!.ended);
});
