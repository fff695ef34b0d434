// Pure parts: requests, payloads, options, retry decisions, RetryInfo, the testing helper.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status } from "@grpc/grpc-js";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { Jitter } from "../src/gen/broker/v1/job_pb.js";
import { AckItemSchema, LeaseRefSchema } from "../src/gen/broker/v1/job_service_pb.js";
import { checkRequest, encodePayload, keyed, toSpec } from "../src/jobs.js";
import { DEFAULT_RETRY, resolveOptions } from "../src/options.js";
import { nextDelay } from "../src/retrying.js";
import { encodeBadRequest, encodeRetryInfo, retryDelayFromMetadata, retryDelayFromStatus } from "../src/status.js";
import { InvalidRequest, PermanentError, RetryLater, fromRpcError } from "../src/errors.js";
import { Worker } from "../src/worker/worker.js";
import { encodeResult } from "../src/worker/execution.js";
import { ackRequest } from "../src/worker/rpc.js";
import { runJob, makeContext } from "../src/testing.js";
import { grpcError } from "./helpers.js";

test("payloads: bytes as they are, strings as UTF-8 text, anything else as compact JSON", () => {
  assert.deepEqual(encodePayload(new Uint8Array([1, 2])), [new Uint8Array([1, 2]), undefined]);
  assert.deepEqual(encodePayload("hé"), [new TextEncoder().encode("hé"), "text/plain; charset=utf-8"]);
  assert.deepEqual(encodePayload({ a: [1] }), [new TextEncoder().encode('{"a":[1]}'), "application/json"]);
});

test("a request becomes a JobSpec: delay turned into run_at once, content type announced, policy kept", () => {
  const spec = toSpec({ queue: "q", kind: "k", payload: { x: 1 }, delayMs: 5000, priority: -1, maxAttempts: 3,
    retryPolicy: { initialDelayMs: 500, maxDelayMs: 60_000, multiplier: 2, jitter: "equal" }, leaseDurationMs: 1500,
    headers: { "trace-id": "t" }, idempotencyKey: "key", maxLeaseExpiries: 2, concurrencyKey: "customer-7" }, 1_000_000);
  assert.equal(timestampMs(spec.runAt!), 1_005_000);
  assert.deepEqual(spec.headers, { "trace-id": "t", "content-type": "application/json" });
  assert.equal(spec.retryPolicy!.jitter, Jitter.EQUAL);
  assert.equal(spec.retryPolicy!.initialDelay!.nanos, 500_000_000);
  assert.equal(spec.leaseDuration!.seconds, 1n);
  assert.equal(spec.leaseDuration!.nanos, 500_000_000);
  assert.equal(spec.idempotencyKey, "key");
  assert.equal(spec.maxLeaseExpiries, 2);
  assert.equal(spec.concurrencyKey, "customer-7");
  assert.equal(toSpec({ queue: "q", kind: "k" }).concurrencyKey, "");
});

test("an uploaded payload goes as payload_ref, with no inline bytes and no content type", () => {
  const ref = { key: "broker/uploads/abc", size: 5_000_000_000, sha256: "ab".repeat(32) };
  const spec = toSpec({ queue: "q", kind: "k", payloadRef: ref });
  assert.deepEqual([spec.payloadRef!.key, spec.payloadRef!.size, spec.payloadRef!.sha256], [ref.key, 5_000_000_000n, ref.sha256]);
  assert.deepEqual([spec.payload.length, spec.headers], [0, {}]);
  assert.equal(toSpec({ queue: "q", kind: "k" }).payloadRef, undefined);
  assert.throws(() => checkRequest({ queue: "q", kind: "k", payload: "x", payloadRef: ref }), /not both/);
  assert.throws(() => checkRequest({ queue: "q", kind: "k", payloadRef: { ...ref, size: 1.5 } }), /payloadRef.size/);
  assert.throws(() => checkRequest({ queue: "q", kind: "k", payloadRef: { ...ref, key: "" } }), /payloadRef.key/);
});

test("every logical enqueue gets an idempotency key: its own or a fresh uuid4", () => {
  assert.equal(keyed({ queue: "q", kind: "k", idempotencyKey: "mine" }).idempotencyKey, "mine");
  const a = keyed({ queue: "q", kind: "k" }).idempotencyKey, b = keyed({ queue: "q", kind: "k" }).idempotencyKey;
  assert.match(a, /^[0-9a-f-]{36}$/);
  assert.notEqual(a, b);
});

test("bad requests and options are refused before anything is sent, naming the field", () => {
  const bad: [object, RegExp][] = [
    [{ queue: "", kind: "k" }, /queue and a kind/], [{ queue: "q", kind: "k", delayMs: 1, runAt: new Date() }, /not both/],
    [{ queue: "q", kind: "k", delayMs: -1 }, /delayMs/], [{ queue: "q", kind: "k", maxAttempts: 0 }, /maxAttempts/],
    [{ queue: "q", kind: "k", leaseDurationMs: 0 }, /leaseDurationMs/],
    [{ queue: "q", kind: "k", retryPolicy: { jitter: "lots" } }, /jitter/],
    [{ queue: "q", kind: "k", retryPolicy: { multiplier: 0.5 } }, /multiplier/],
  ];
  for (const [job, message] of bad) assert.throws(() => checkRequest(job as never), message);
  assert.throws(() => resolveOptions({ timeoutMs: 0 }), /timeoutMs/);
  assert.throws(() => resolveOptions({ keepaliveTimeMs: 1000 }), /keepaliveTimeMs/);
  assert.throws(() => resolveOptions({ tls: { cert: "x" } }), /cert and key/);
  assert.throws(() => resolveOptions({ retry: { maxAttempts: 0 } }), /maxAttempts/);
  assert.throws(() => new Worker([]), /at least one queue/);
  assert.throws(() => new Worker("q", { concurrency: 0 }), /concurrency/);
  assert.throws(() => new Worker("q", { pollWaitMs: 61_000 }), /pollWaitMs/);
  assert.throws(() => new Worker("q", { leaseCalls: 0 }), /leaseCalls/);
  assert.throws(() => new Worker("q", { leaseCalls: 9 }), /leaseCalls/);
  assert.throws(() => new Worker("q", { leaseDurationMs: 10 }), /leaseDurationMs/);
});

test("BadRequest details reach the SDK error as field violations; none without the trailer", () => {
  const md = new Metadata();
  md.set("grpc-status-details-bin", Buffer.from(encodeBadRequest("jobs[2].queue", "must not be empty")));
  const error = fromRpcError(grpcError(status.INVALID_ARGUMENT, "jobs[2].queue: must not be empty", md));
  assert.ok(error instanceof InvalidRequest);
  assert.deepEqual(error.fieldViolations, [{ field: "jobs[2].queue", description: "must not be empty" }]);
  assert.deepEqual(error.preconditionViolations, []);
  assert.deepEqual(fromRpcError(grpcError(status.INVALID_ARGUMENT, "x")).fieldViolations, []);
  const junk = new Metadata();
  junk.set("grpc-status-details-bin", Buffer.from([0xff, 0x01, 0x02]));
  assert.deepEqual(fromRpcError(grpcError(status.INVALID_ARGUMENT, "x", junk)).fieldViolations, []);
});

test("RetryInfo round-trips through grpc-status-details-bin; a malformed trailer reads as none", () => {
  assert.equal(retryDelayFromStatus(encodeRetryInfo(1500)), 1500);
  const md = new Metadata();
  md.set("grpc-status-details-bin", Buffer.from(encodeRetryInfo(250)));
  assert.equal(retryDelayFromMetadata(md), 250);
  assert.equal(retryDelayFromMetadata(new Metadata()), undefined);
  assert.equal(retryDelayFromStatus(new Uint8Array([0xff, 0xff, 0xff])), undefined);
});

test("retry decisions: transient codes back off, RESOURCE_EXHAUSTED only with RetryInfo, the rest give up", () => {
  const hinted = new Metadata();
  hinted.set("grpc-status-details-bin", Buffer.from(encodeRetryInfo(700)));
  const policy = DEFAULT_RETRY;
  for (const code of [status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED]) {
    const d = nextDelay(grpcError(code, "x"), 1, policy)!;
    assert.ok(d >= 50 && d <= 100, `${code}: ${d}`);
  }
  assert.equal(nextDelay(grpcError(status.RESOURCE_EXHAUSTED, "x"), 1, policy), undefined);
  assert.equal(nextDelay(grpcError(status.RESOURCE_EXHAUSTED, "x", hinted), 1, policy), 700);
  assert.equal(nextDelay(grpcError(status.UNAVAILABLE, "x", hinted), 1, policy), 700);
  assert.equal(nextDelay(grpcError(status.INVALID_ARGUMENT, "x"), 1, policy), undefined);
  assert.equal(nextDelay(grpcError(status.UNAVAILABLE, "x"), 5, policy), undefined);
});

test("runJob runs a handler as the worker does: value, failure, PermanentError, RetryLater, time limit", async () => {
  const ok = await runJob(async (ctx) => ctx.json<{ n: number }>().n * 2, { n: 21 });
  assert.equal(ok.ok, true);
  assert.equal(ok.unwrap(), 42);
  const failed = await runJob(() => { throw new TypeError("boom"); });
  assert.equal(failed.ok, false);
  assert.match(failed.error, /^TypeError: boom/);
  assert.throws(() => failed.unwrap(), TypeError);
  assert.equal((await runJob(() => { throw new PermanentError("bad address"); })).permanent, true);
  assert.equal((await runJob(() => { throw new RetryLater(60_000); })).retryAfterMs, 60_000);
  let aborted = false;
  const slow = await runJob((ctx) => new Promise((resolve) => ctx.signal.addEventListener("abort", () => { aborted = true; resolve(1); })), undefined, { timeoutMs: 50 });
  assert.match(slow.error, /handler ran longer than 0.05 s/);
  assert.ok(aborted, "the handler's signal aborted at the time limit");
  const worker = new Worker("q").handle("send", (ctx) => `${ctx.kind}:${ctx.attempt}:${ctx.isLastAttempt}`);
  assert.equal((await runJob(worker, "", { kind: "send", attempt: 3, maxAttempts: 3 })).unwrap(), "send:3:true");
  assert.match((await runJob(worker, "", { kind: "other" })).error, /no handler registered for kind 'other'/);
  assert.equal(makeContext("hi").headers["content-type"], "text/plain; charset=utf-8");
});

test("results: bytes as they are, strings as UTF-8, nothing for undefined, else JSON; too big or not JSON fails for good", () => {
  assert.deepEqual(encodeResult(new Uint8Array([7])), new Uint8Array([7]));
  assert.deepEqual(encodeResult("hé"), new TextEncoder().encode("hé"));
  assert.equal(encodeResult(undefined).length, 0);
  assert.equal(encodeResult(null).length, 0);
  assert.deepEqual(encodeResult({ total: 42 }), new TextEncoder().encode('{"total":42}'));
  assert.throws(() => encodeResult("x".repeat(11), 10), PermanentError);
  assert.throws(() => encodeResult(10n), PermanentError);
  assert.throws(() => encodeResult(() => 1), PermanentError);
});

test("acks: without results as plain leases (any broker), with one the whole batch as items", () => {
  const lease = create(LeaseRefSchema, { jobId: "j1", leaseToken: "t1" });
  const plain = ackRequest([create(AckItemSchema, { lease })]);
  assert.deepEqual([plain.leases.length, plain.items.length], [1, 0]);
  const other = create(LeaseRefSchema, { jobId: "j2", leaseToken: "t2" });
  const mixed = ackRequest([create(AckItemSchema, { lease }), create(AckItemSchema, { lease: other, result: new Uint8Array([1]) })]);
  assert.deepEqual([mixed.leases.length, mixed.items.map((i) => i.lease!.jobId)], [0, ["j1", "j2"]]);
});
