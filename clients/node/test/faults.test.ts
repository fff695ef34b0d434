// The SDK against a scripted fake broker (grpc-js handlers on loopback): retries with the same
// idempotency key, RetryInfo honoured, errors translated, the unary fallback without sessions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  AckResponseSchema, EnqueueBatchResponseSchema, EnqueueResponseSchema, JobService, LeaseOutcome, LeaseResponseSchema,
  LeaseResultSchema, LeasedJobSchema,
  type AckRequest, type EnqueueBatchRequest, type EnqueueRequest, type LeaseRequest,
} from "../src/gen/broker/v1/job_service_pb.js";
import { JobSchema } from "../src/gen/broker/v1/job_pb.js";
import { Client } from "../src/client.js";
import { DeadlineExceeded, InvalidRequest, LeaseRefused, ResourceExhausted, Unauthenticated } from "../src/errors.js";
import { encodeRetryInfo } from "../src/status.js";
import { SessionRpc } from "../src/worker/rpc.js";
import { Worker } from "../src/worker/worker.js";
import { eventually, fakeServer, grpcError, quiet } from "./helpers.js";

type Unary<I> = (call: { request: I; metadata: Metadata }, cb: (e: unknown, r?: unknown) => void) => void;

test("enqueue retries UNAVAILABLE and CANCELLED with the same idempotency key, and sends the token", async () => {
  const seen: EnqueueRequest[] = [];
  const auth: string[] = [];
  const enqueue: Unary<EnqueueRequest> = (call, cb) => {
    seen.push(call.request);
    auth.push(String(call.metadata.get("authorization")[0]));
    if (seen.length === 1) return cb(grpcError(status.UNAVAILABLE, "restarting"));
    if (seen.length === 2) return cb(grpcError(status.CANCELLED, "stopping mid-call"));
    cb(null, create(EnqueueResponseSchema, { jobId: "j-1", created: false }));
  };
  const server = await fakeServer(JobService, { Enqueue: enqueue as never });
  const client = new Client({ target: server.address, token: "s3cret", retry: { initialBackoffMs: 1, maxBackoffMs: 2 } });
  try {
    const result = await client.enqueue("q", "k", { a: 1 });
    assert.deepEqual([result.jobId, result.created], ["j-1", false]);
    assert.equal(seen.length, 3);
    assert.equal(new Set(seen.map((r) => r.job!.idempotencyKey)).size, 1);
    assert.match(seen[0]!.job!.idempotencyKey, /^[0-9a-f-]{36}$/, "a key made by the client");
    assert.equal(result.idempotencyKey, seen[0]!.job!.idempotencyKey);
    assert.deepEqual(new Set(auth), new Set(["Bearer s3cret"]));
  } finally {
    client.close();
    await server.close();
  }
});

test("RESOURCE_EXHAUSTED is retried after the RetryInfo delay, and only with one", async () => {
  let calls = 0;
  let hinted = true;
  const times: number[] = [];
  const enqueue: Unary<EnqueueRequest> = (_call, cb) => {
    calls += 1;
    times.push(Date.now());
    const md = new Metadata();
    if (hinted) md.set("grpc-status-details-bin", Buffer.from(encodeRetryInfo(300)));
    if (calls === 1 || !hinted) return cb(grpcError(status.RESOURCE_EXHAUSTED, "rate limited", md));
    cb(null, create(EnqueueResponseSchema, { jobId: "j", created: true }));
  };
  const server = await fakeServer(JobService, { Enqueue: enqueue as never });
  const client = new Client({ target: server.address });
  try {
    assert.equal((await client.enqueue("q", "k")).jobId, "j");
    assert.equal(calls, 2);
    assert.ok(times[1]! - times[0]! >= 290, `waited ${times[1]! - times[0]!} ms, the hint said 300`);
    hinted = false;
    calls = 0;
    await assert.rejects(client.enqueue("q", "k"), ResourceExhausted);
    assert.equal(calls, 1);
  } finally {
    client.close();
    await server.close();
  }
});

test("errors are translated; a deadline is the call's timeout", async () => {
  const enqueue: Unary<EnqueueRequest> = (call, cb) => {
    if (call.request.job!.queue === "bad") return cb(grpcError(status.INVALID_ARGUMENT, "job.queue: bad name"));
    if (call.request.job!.queue === "who") return cb(grpcError(status.UNAUTHENTICATED, "no key"));
    // "slow": never answers within the deadline
    setTimeout(() => cb(null, create(EnqueueResponseSchema, { jobId: "late" })), 2000);
  };
  const server = await fakeServer(JobService, { Enqueue: enqueue as never });
  const client = new Client({ target: server.address, timeoutMs: 100, retry: { maxAttempts: 2, initialBackoffMs: 1, maxBackoffMs: 1 } });
  try {
    await assert.rejects(client.enqueue("bad", "k"), (e: InvalidRequest) => e instanceof InvalidRequest && /job.queue/.test(e.message));
    await assert.rejects(client.enqueue("who", "k"), Unauthenticated);
    await assert.rejects(client.enqueue("slow", "k"), DeadlineExceeded);
  } finally {
    client.close();
    await server.close();
  }
});

test("enqueueBatch splits at maxBatch and returns one result per job, in order", async () => {
  const sizes: number[] = [];
  const batch: Unary<EnqueueBatchRequest> = (call, cb) => {
    sizes.push(call.request.jobs.length);
    cb(null, create(EnqueueBatchResponseSchema, {
      results: call.request.jobs.map((j) => create(EnqueueResponseSchema, { jobId: `id-${j.kind}`, created: true })),
    }));
  };
  const server = await fakeServer(JobService, { EnqueueBatch: batch as never });
  const client = new Client({ target: server.address, maxBatch: 2 });
  try {
    const results = await client.enqueueBatch(["a", "b", "c", "d", "e"].map((kind) => ({ queue: "q", kind })));
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.deepEqual(results.map((r) => r.jobId), ["id-a", "id-b", "id-c", "id-d", "id-e"]);
    assert.equal(new Set(results.map((r) => r.idempotencyKey)).size, 5);
  } finally {
    client.close();
    await server.close();
  }
  assert.throws(() => new Client({ maxBatch: 0 }), /maxBatch/);
});

test("a worker against a broker without sessions uses unary calls; a refused Lease stops it", async () => {
  let leased = 0;
  const acked: string[] = [];
  const lease: Unary<LeaseRequest> = (call, cb) => {
    if (call.request.queues[0] === "forbidden") return cb(grpcError(status.PERMISSION_DENIED, "no"));
    const jobs = leased++ === 0 ? [create(LeasedJobSchema, {
      job: create(JobSchema, { id: "job-1", kind: "k", queue: "q", maxAttempts: 3 }), leaseToken: "t1", attempt: 1,
    })] : [];
    setTimeout(() => cb(null, create(LeaseResponseSchema, { jobs })), jobs.length ? 0 : 50);
  };
  const ack: Unary<AckRequest> = (call, cb) => {
    acked.push(...call.request.leases.map((l) => `${l.jobId}/${l.leaseToken}`));
    cb(null, create(AckResponseSchema, { results: call.request.leases.map((l) => create(LeaseResultSchema, { jobId: l.jobId, outcome: LeaseOutcome.OK })) }));
  };
  const server = await fakeServer(JobService, { Lease: lease as never, Ack: ack as never });
  try {
    const worker = new Worker("q", { logger: quiet, handleSignals: false, pollWaitMs: 100 }).handle("k", () => undefined);
    const running = worker.run({ target: server.address });
    await eventually(() => acked.length === 1, 5000, "the ack");
    assert.ok((worker.rpc as SessionRpc).unaryOnly, "fell back to unary calls");
    worker.stop();
    await running;
    assert.deepEqual(acked, ["job-1/t1"]);
    assert.equal(worker.stats.succeeded, 1);
    const refused = new Worker("forbidden", { logger: quiet, handleSignals: false, session: false });
    await assert.rejects(refused.run({ target: server.address }), LeaseRefused);
  } finally {
    await server.close();
  }
});
