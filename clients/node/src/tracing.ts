// Trace context through the job's headers, as the Python SDK does (broker_client.tracing), with
// no tracing dependency of the SDK's own: pass `tracing: otelTracing(api)` to the Client and the
// Worker, `api` being the application's `@opentelemetry/api` module. Without it nothing happens.
//
// enqueue: a PRODUCER span `enqueue <queue>` around the call, its W3C traceparent/tracestate put
// in each job's headers unless the job has a traceparent already. worker: each attempt runs in a
// CONSUMER span `process <queue>`, child of the job's traceparent and active while the handler
// runs; a failed attempt records its exception and the error status; the settlement is an event.

/** What the Client and the Worker call; `otelTracing` makes one from OpenTelemetry's API. */
export interface Tracing {
  /** Around one Enqueue/EnqueueBatch call: `call(inject)`, `inject` adding the span's context to headers. */
  enqueue<T>(queue: string, count: number, call: (inject: (headers: Record<string, string>) => void) => Promise<T>): Promise<T>;
  /** Around one attempt of a leased job: `run()` inside its span; `run` resolves to the Outcome. */
  process<T extends Settled | undefined>(job: TracedJob, run: () => Promise<T>): Promise<T>;
}

export interface TracedJob { id: string; kind: string; queue: string; attempt: number; headers: Record<string, string> }
/** The parts of an Outcome the span reads. */
export interface Settled { ok: boolean; error: string; exception?: unknown; snoozeMs?: number }

/** The parts of `@opentelemetry/api` used (structural: any 1.x version fits). */
export interface OtelApi {
  trace: { getTracer(name: string): OtelTracer };
  context: { active(): unknown };
  propagation: {
    inject(context: unknown, carrier: Record<string, string>): void;
    extract(context: unknown, carrier: Record<string, string>): unknown;
  };
}
export interface OtelSpan {
  setAttribute(key: string, value: string | number): unknown;
  recordException(exception: Error | string): void;
  setStatus(status: { code: number; message?: string }): unknown;
  addEvent(name: string, attributes?: Record<string, string>): unknown;
  end(): void;
}
export interface OtelTracer {
  startActiveSpan<F extends (span: OtelSpan) => unknown>(
    name: string, options: { kind: number; attributes: Record<string, string | number> }, context: unknown, fn: F): ReturnType<F>;
}

// SpanKind and SpanStatusCode of the OTel API (stable numbers of the specification).
const PRODUCER = 3, CONSUMER = 4, ERROR = 2;
const SYSTEM = "broker";

export function otelTracing(api: OtelApi): Tracing {
  const tracer = api.trace.getTracer("@broker/client");
  return {
    enqueue(queue, count, call) {
      const attributes: Record<string, string | number> = {
        "messaging.system": SYSTEM, "messaging.operation.type": "send", "messaging.operation.name": "enqueue",
      };
      if (queue) attributes["messaging.destination.name"] = queue;
      if (count !== 1) attributes["messaging.batch.message_count"] = count;
      return tracer.startActiveSpan(`enqueue ${queue}`.trim(), { kind: PRODUCER, attributes }, api.context.active(),
        async (span: OtelSpan) => {
          try {
            return await call((headers) => api.propagation.inject(api.context.active(), headers));
          } catch (exc) {
            span.recordException(exc instanceof Error ? exc : String(exc));
            span.setStatus({ code: ERROR, message: String(exc) });
            throw exc;
          } finally {
            span.end();
          }
        });
    },
    process(job, run) {
      const parent = "traceparent" in job.headers ? api.propagation.extract(api.context.active(), job.headers) : api.context.active();
      const attributes = {
        "messaging.system": SYSTEM, "messaging.operation.type": "process", "messaging.operation.name": "process",
        "messaging.destination.name": job.queue, "messaging.message.id": job.id, "broker.job.kind": job.kind,
        "broker.job.attempt": job.attempt,
      };
      return tracer.startActiveSpan(`process ${job.queue}`, { kind: CONSUMER, attributes }, parent, async (span: OtelSpan) => {
        try {
          const outcome = await run();
          if (outcome === undefined) {  // no outcome: the lease was lost or the worker stopped
            span.addEvent("settle", { "broker.settle": "aborted" });
            return outcome;
          }
          const how = outcome.ok ? "ack" : outcome.snoozeMs !== undefined ? "snooze" : "nack";
          if (how === "nack") {
            if (outcome.exception !== undefined) span.recordException(outcome.exception instanceof Error ? outcome.exception : String(outcome.exception));
            span.setStatus({ code: ERROR, message: outcome.error.split("\n")[0]!.slice(0, 200) });
          }
          span.addEvent("settle", { "broker.settle": how });
          return outcome;
        } finally {
          span.end();
        }
      });
    },
  };
}

/** `headers` with the trace context `inject` adds, unless they carry a traceparent already. */
export function withContext(headers: Record<string, string> | undefined, inject: (h: Record<string, string>) => void): Record<string, string> {
  if (headers && "traceparent" in headers) return headers;
  const out = { ...(headers ?? {}) };
  inject(out);
  return out;
}
