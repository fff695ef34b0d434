// Snooze and progress: without a broker (runJob, the context's checks) and against a real broker
// (BROKER_ADDR; tests/e2e/test_node_sdk.py starts one): a handler that throws or returns Snooze
// hands its job back without using an attempt, over a session and over unary calls; ctx.progress
// goes with the next heartbeat, once per change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import type { ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import { JobSchema, JobState } from "../src/gen/broker/v1/job_pb.js";
import {
  JobService, LeaseOutcome, LeaseResponseSchema, LeaseResultSchema, LeasedJobSchema, NackResponseSchema,
  type LeaseRequest, type NackItem, type NackRequest,
} from "../src/gen/broker/v1/job_service_pb.js";
import { SNOOZED_ON_AN_OLD_BROKER } from "../src/worker/rpc.js";
import { Client } from "../src/client.js";
import { Snooze } from "../src/errors.js";
import { MAX_PROGRESS_CHARS } from "../src/worker/context.js";
import { Worker } from "../src/worker/worker.js";
import { makeContext, runJob } from "../src/testing.js";
import { Admin, eventually, fakeServer, quiet, uniqueQueue } from "./helpers.js";

type Unary<Req> = (call: ServerUnaryCall<Req, unknown>, cb: sendUnaryData<unknown>) => void;

const target = process.env.BROKER_ADDR;
const skip = target ? false : "BROKER_ADDR is not set (tests/e2e/test_node_sdk.py sets it)";

test("Snooze thrown or returned is a snooze outcome; a negative delay is refused", async () => {
  assert.equal((await runJob(() => { throw new Snooze(5000); })).snoozeMs, 5000);
  const returned = await runJob(() => new Snooze());
  assert.deepEqual([returned.ok, returned.snoozeMs], [false, 0]);
  assert.throws(() => new Snooze(-1), RangeError);
});

test("ctx.progress checks its fraction and message and keeps the latest report", () => {
  const ctx = makeContext();
  for (const bad of [-0.1, 1.5, Number.NaN]) assert.throws(() => ctx.progress(bad), RangeError);
  assert.throws(() => ctx.progress(0.5, "x".repeat(MAX_PROGRESS_CHARS + 1)), RangeError);
  assert.equal(ctx.unsentProgress(), undefined);
  ctx.progress(0.25, "a quarter");
  ctx.progress(0.5, "halfway");
  assert.deepEqual(ctx.unsentProgress(), { fraction: 0.5, message: "halfway" });
  ctx.progressSent({ fraction: 0.5, message: "halfway" });
  assert.equal(ctx.unsentProgress(), undefined);
});

for (const session of [true, false]) {
  test(`a snoozed job runs again without using an attempt (${session ? "session" : "unary"})`, { skip }, async () => {
    const client = new Client({ target });
    const admin = new Admin({ target });
    const queue = uniqueQueue("snooze");
    const runs = new Map<string, number>();
    const w = new Worker(queue, { logger: quiet, handleSignals: false, pollWaitMs: 1000, session })
      .handle("throw", (ctx) => {
        runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
        if (runs.get(ctx.id) === 1) throw new Snooze(0);
        return { attempt: ctx.attempt, snoozes: ctx.snoozes };
      })
      .handle("return", (ctx) => {
        runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
        return runs.get(ctx.id)! <= 2 ? new Snooze(0) : "done";
      })
      .handle("later", () => new Snooze(3_600_000));
    try {
      const thrown = await client.enqueue(queue, "throw", {}, { maxAttempts: 1 });
      const returned = await client.enqueue(queue, "return", {}, { maxAttempts: 1 });
      const later = await client.enqueue(queue, "later");
      const running = w.run({ target });
      for (const id of [thrown.jobId, returned.jobId]) {
        await eventually(async () => (await admin.job(id)).state === JobState.SUCCEEDED, 10_000, "the snoozed job to finish");
      }
      await eventually(async () => (await admin.job(later.jobId)).snoozes === 1, 10_000, "the later job to be snoozed");
      w.stop();
      await running;
      const [a, b, c] = await Promise.all([thrown, returned, later].map((r) => admin.job(r.jobId)));
      assert.deepEqual([a!.attempt, a!.snoozes, new TextDecoder().decode(a!.result)], [1, 1, '{"attempt":1,"snoozes":1}']);
      assert.deepEqual([b!.attempt, b!.snoozes], [1, 2]);
      assert.deepEqual([c!.state, c!.attempt], [JobState.PENDING, 0]);
      assert.deepEqual((await admin.events(thrown.jobId)).map((e) => e.reason), ["enqueue", "lease", "snooze", "lease", "ack"]);
      assert.equal(w.stats.snoozed, 4);
      await admin.cancel(later.jobId);
    } finally {
      w.stop();
      client.close();
      admin.close();
    }
  });
}

test("progress goes to the broker with the next heartbeat, once per change", { skip }, async () => {
  const client = new Client({ target });
  const admin = new Admin({ target });
  const queue = uniqueQueue("progress");
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const w = new Worker(queue, { logger: quiet, handleSignals: false, pollWaitMs: 1000, leaseDurationMs: 1500 })
    .handle("long", async (ctx) => {
      ctx.progress(0.25, "a quarter");
      ctx.progress(0.5, "halfway");
      await gate;
    });
  try {
    const { jobId } = await client.enqueue(queue, "long");
    const running = w.run({ target });
    await eventually(async () => (await admin.job(jobId)).progress !== undefined, 10_000, "the progress to arrive");
    const job = await admin.job(jobId);
    assert.deepEqual([job.progress!.fraction, job.progress!.message], [0.5, "halfway"]);
    const deadline = (j: typeof job) => Number(j.leaseExpiresAt!.seconds) * 1e9 + j.leaseExpiresAt!.nanos;
    const first = deadline(job);
    // A later heartbeat (it moves the deadline) repeats no progress.
    await eventually(async () => deadline(await admin.job(jobId)) > first, 10_000, "another heartbeat");
    release();
    await eventually(async () => (await admin.job(jobId)).state === JobState.SUCCEEDED, 10_000, "the job to finish");
    w.stop();
    await running;
    const progressed = (await admin.events(jobId)).filter((e) => e.reason === "progress");
    assert.deepEqual(progressed.map((e) => [e.progress!.fraction, e.progress!.message]), [[0.5, "halfway"]]);
  } finally {
    release();
    w.stop();
    client.close();
    admin.close();
  }
});

test("a broker without Snooze (UNIMPLEMENTED) gets a Nack with the delay instead", async () => {
  let leased = 0;
  const nacked: NackItem[] = [];
  const lease: Unary<LeaseRequest> = (call, cb) => {
    const jobs = leased++ === 0 ? [create(LeasedJobSchema, {
      job: create(JobSchema, { id: "job-1", kind: "k", queue: "q", maxAttempts: 3 }), leaseToken: "t1", attempt: 1,
    })] : [];
    setTimeout(() => cb(null, create(LeaseResponseSchema, { jobs })), jobs.length ? 0 : 50);
  };
  const nack: Unary<NackRequest> = (call, cb) => {
    nacked.push(...call.request.items);
    cb(null, create(NackResponseSchema, { results: call.request.items.map((i) => create(LeaseResultSchema, { jobId: i.lease!.jobId, outcome: LeaseOutcome.OK })) }));
  };
  const server = await fakeServer(JobService, { Lease: lease as never, Nack: nack as never });
  try {
    const worker = new Worker("q", { logger: quiet, handleSignals: false, pollWaitMs: 100, session: false })
      .handle("k", () => new Snooze(90_000));
    const running = worker.run({ target: server.address });
    await eventually(() => nacked.length === 1, 5000, "the nack");
    worker.stop();
    await running;
    assert.equal(nacked[0]!.lease!.leaseToken, "t1");
    assert.equal(nacked[0]!.error, SNOOZED_ON_AN_OLD_BROKER);
    assert.equal(Number(nacked[0]!.retryAfter!.seconds), 90);
  } finally {
    await server.close();
  }
});
