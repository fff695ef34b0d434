// The SDK against a real broker on loopback (BROKER_ADDR; tests/e2e/test_node_sdk.py starts one
// and runs this suite): producing, working, heartbeats, lost leases, shutdown, sessions, TLS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { JobState } from "../src/gen/broker/v1/job_pb.js";
import { Client } from "../src/client.js";
import { InvalidRequest, LeaseRefused, PermanentError, RetryLater, Unauthenticated } from "../src/errors.js";
import { SessionRpc } from "../src/worker/rpc.js";
import { Worker, type WorkerOptions } from "../src/worker/worker.js";
import type { JobContext } from "../src/worker/context.js";
import { Admin, eventually, quiet, uniqueQueue } from "./helpers.js";

const target = process.env.BROKER_ADDR;
const skip = target ? false : "BROKER_ADDR is not set (tests/e2e/test_node_sdk.py sets it)";

function worker(queue: string, options: WorkerOptions = {}): Worker {
  return new Worker(queue, { logger: quiet, handleSignals: false, pollWaitMs: 1000, ...options });
}

async function states(admin: Admin, ids: string[]): Promise<JobState[]> {
  return Promise.all(ids.map(async (id) => (await admin.job(id)).state));
}

test("enqueue: a second enqueue with the same key names the first job", { skip }, async () => {
  const client = new Client({ target });
  const admin = new Admin({ target });
  try {
    const queue = uniqueQueue();
    const first = await client.enqueue(queue, "k", { to: "ada" }, { idempotencyKey: "welcome:ada", priority: -1, maxAttempts: 4 });
    const again = await client.enqueue(queue, "k", { to: "someone else" }, { idempotencyKey: "welcome:ada" });
    assert.equal(first.created, true);
    assert.deepEqual([again.jobId, again.created], [first.jobId, false]);
    const job = await admin.job(first.jobId);
    assert.deepEqual([job.priority, job.maxAttempts, job.headers["content-type"]], [-1, 4, "application/json"]);
    const batch = await client.enqueueBatch([{ queue, kind: "a", concurrencyKey: "customer-1" },
      { queue, kind: "b", idempotencyKey: "welcome:ada" }]);
    assert.deepEqual(batch.map((r) => r.created), [true, false]);
    assert.equal(batch[1]!.jobId, first.jobId);
    const keyed = await client.enqueue(queue, "k", "x", { concurrencyKey: "customer-2" });
    assert.equal((await admin.job(keyed.jobId)).concurrencyKey, "customer-2");
    assert.equal((await admin.job(batch[0]!.jobId)).concurrencyKey, "customer-1");
    assert.equal(job.concurrencyKey, "");
  } finally {
    client.close();
    admin.close();
  }
});

test("the broker's refusal names the field in its details: InvalidRequest.fieldViolations", { skip }, async () => {
  const client = new Client({ target, retry: { maxAttempts: 1 } });
  try {
    // The SDK's own checks pass this; the broker keeps the _broker.* queues for itself.
    await assert.rejects(client.enqueue("_broker.callbacks", "k"), (e: InvalidRequest) =>
      e instanceof InvalidRequest && e.fieldViolations.length === 1 && e.fieldViolations[0]!.field === "job.queue"
      && e.fieldViolations[0]!.description.length > 0);
  } finally {
    client.close();
  }
});

test("a worker runs handlers by kind with concurrency, and acks, nacks and dead-letters", { skip }, async () => {
  const client = new Client({ target });
  const admin = new Admin({ target });
  const queue = uniqueQueue();
  let concurrent = 0, peak = 0;
  const w = worker(queue, { concurrency: 4 })
    .handle("ok", async (ctx: JobContext) => {
      concurrent += 1; peak = Math.max(peak, concurrent);
      await new Promise((r) => setTimeout(r, 100));
      concurrent -= 1;
      return ctx.json();
    })
    .handle("permanent", () => { throw new PermanentError("bad address"); })
    .handle("later", (ctx) => { if (ctx.attempt === 1) throw new RetryLater(0); })
    .handle("flaky", (ctx) => { if (ctx.attempt < 2) throw new Error("try again"); });
  try {
    const ok = await client.enqueueBatch(Array.from({ length: 8 }, (_, i) => ({ queue, kind: "ok", payload: { i } })));
    const permanent = await client.enqueue(queue, "permanent", "x");
    const later = await client.enqueue(queue, "later", "x");
    const flaky = await client.enqueue(queue, "flaky", "x", { retryPolicy: { initialDelayMs: 10, maxDelayMs: 10, jitter: "none" } });
    const unknown = await client.enqueue(queue, "nobody-knows", "x", { maxAttempts: 1 });
    const running = w.run({ target });
    const ids = [...ok.map((r) => r.jobId), later.jobId, flaky.jobId];
    await eventually(async () => (await states(admin, ids)).every((s) => s === JobState.SUCCEEDED), 15_000, "the jobs to succeed");
    await eventually(async () => (await admin.job(permanent.jobId)).state === JobState.DEAD, 5000, "the permanent failure");
    await eventually(async () => (await admin.job(unknown.jobId)).state === JobState.DEAD, 5000, "the unknown kind");
    w.stop();
    await running;
    assert.ok(peak > 1 && peak <= 4, `peak concurrency ${peak}`);
    const dead = await admin.job(permanent.jobId);
    assert.equal(dead.attempt, 1);
    assert.match(dead.lastError, /^PermanentError: bad address/);
    assert.match((await admin.job(unknown.jobId)).lastError, /no handler registered for kind 'nobody-knows'/);
    assert.equal((await admin.job(later.jobId)).attempt, 2);
    assert.match((await admin.job(flaky.jobId)).errors[0]!.error, /^Error: try again/);
    assert.ok((w.rpc as SessionRpc).opened >= 1 && !(w.rpc as SessionRpc).unaryOnly, "calls went over a WorkerSession");
    assert.equal(w.stats.succeeded, 10);
  } finally {
    w?.stop();
    client.close();
    admin.close();
  }
});

test("the unary calls work too (session: false)", { skip }, async () => {
  const client = new Client({ target });
  const admin = new Admin({ target });
  const queue = uniqueQueue();
  const w = worker(queue, { session: false }).handle("k", () => undefined);
  try {
    const jobs = await client.enqueueBatch([{ queue, kind: "k" }, { queue, kind: "k" }]);
    const running = w.run({ target });
    await eventually(async () => (await states(admin, jobs.map((j) => j.jobId))).every((s) => s === JobState.SUCCEEDED));
    w.stop();
    await running;
  } finally {
    w?.stop();
    client.close();
    admin.close();
  }
});

test("heartbeats keep a job longer than its lease; a lost lease aborts the handler's signal", { skip }, async () => {
  const client = new Client({ target });
  const admin = new Admin({ target });
  const queue = uniqueQueue();
  let abortedWith: unknown;
  let started = "";
  const w = worker(queue, { leaseDurationMs: 1000 })
    .handle("long", async () => { await new Promise((r) => setTimeout(r, 2500)); })
    .handle("doomed", (ctx) => new Promise((resolve) => {
      started = ctx.id;
      ctx.signal.addEventListener("abort", () => { abortedWith = ctx.signal.reason; resolve(undefined); });
    }));
  try {
    const long = await client.enqueue(queue, "long");
    const doomed = await client.enqueue(queue, "doomed");
    const running = w.run({ target });
    await eventually(() => started === doomed.jobId, 5000, "the doomed job to start");
    await admin.cancel(doomed.jobId);
    await eventually(() => abortedWith !== undefined, 5000, "the lost lease to abort the handler");
    assert.equal((abortedWith as Error).name, "LeaseLost");
    await eventually(async () => (await admin.job(long.jobId)).state === JobState.SUCCEEDED, 10_000, "the long job");
    w.stop();
    await running;
    const job = await admin.job(long.jobId);
    assert.equal(job.attempt, 1, "one lease, kept alive by heartbeats, never redelivered");
    assert.equal(job.leaseExpiries, 0);
    assert.equal((await admin.job(doomed.jobId)).state, JobState.CANCELLED);
    assert.equal(w.stats.lost, 1);
  } finally {
    w?.stop();
    client.close();
    admin.close();
  }
});

test("shutdown: running jobs finish within the grace period; the rest are nacked for redelivery", { skip }, async () => {
  const client = new Client({ target });
  const admin = new Admin({ target });
  const queue = uniqueQueue();
  const started = new Set<string>();
  const w = worker(queue, { concurrency: 2, shutdownGraceMs: 300 })
    .handle("quick", async (ctx) => { started.add(ctx.id); await new Promise((r) => setTimeout(r, 100)); })
    .handle("stuck", (ctx) => { started.add(ctx.id); return new Promise(() => {}); });
  try {
    const quick = await client.enqueue(queue, "quick");
    const stuck = await client.enqueue(queue, "stuck");
    const running = w.run({ target });
    await eventually(() => started.size === 2, 5000, "both jobs to start");
    w.stop();
    await running;
    assert.equal((await admin.job(quick.jobId)).state, JobState.SUCCEEDED);
    const back = await admin.job(stuck.jobId);
    assert.equal(back.state, JobState.PENDING);
    assert.match(back.lastError, /worker shut down before the job finished/);
    assert.deepEqual([w.stats.succeeded, w.stats.aborted], [1, 1]);
  } finally {
    w?.stop();
    client.close();
    admin.close();
  }
});

const secure = process.env.BROKER_SECURE_ADDR;
const skipSecure = secure ? false : "BROKER_SECURE_ADDR is not set";

test("mutual TLS with API keys: producer and worker; a wrong key is refused", { skip: skipSecure }, async () => {
  const tls = { ca: readFileSync(process.env.BROKER_CA!), cert: readFileSync(process.env.BROKER_CLIENT_CERT!),
    key: readFileSync(process.env.BROKER_CLIENT_KEY!) };
  const queue = uniqueQueue();
  const client = new Client({ target: secure, tls, token: process.env.BROKER_PRODUCER_TOKEN });
  const done: string[] = [];
  const w = worker(queue).handle("k", (ctx) => { done.push(ctx.id); });
  try {
    await client.enqueueBatch([{ queue, kind: "k" }, { queue, kind: "k" }]);
    const running = w.run({ target: secure, tls, token: process.env.BROKER_WORKER_TOKEN });
    await eventually(() => done.length === 2, 10_000, "the jobs over mutual TLS");
    w.stop();
    await running;
    assert.equal(w.stats.leaseFailures, 0);
    const stranger = new Client({ target: secure, tls, token: "not-a-key", retry: { maxAttempts: 1 } });
    await assert.rejects(stranger.enqueue(queue, "k"), Unauthenticated);
    stranger.close();
    await assert.rejects(worker(queue).run({ target: secure, tls, token: "not-a-key" }), LeaseRefused);
  } finally {
    w.stop();
    client.close();
  }
});

test("a handler's return value is the job's result, over a session and over unary calls", { skip }, async () => {
  const client = new Client({ target });
  const admin = new Admin({ target });
  try {
    for (const session of [true, false]) {
      const queue = uniqueQueue();
      const w = worker(queue, { session }).handle("sum", (ctx: JobContext) => ({ total: (ctx.json() as number[]).reduce((a, b) => a + b, 0) }))
        .handle("none", () => undefined);
      const sum = await client.enqueue(queue, "sum", [1, 2, 39]);
      const none = await client.enqueue(queue, "none", "x");
      const running = w.run({ target });
      await eventually(async () => (await states(admin, [sum.jobId, none.jobId])).every((s) => s === JobState.SUCCEEDED),
        10_000, "the jobs to succeed");
      w.stop();
      await running;
      assert.equal(new TextDecoder().decode((await admin.job(sum.jobId)).result), '{"total":42}');
      assert.equal((await admin.job(none.jobId)).result.length, 0);
    }
  } finally {
    client.close();
    admin.close();
  }
});

test("large payloads: an offloaded payload reaches the handler fetched and checked, or streamed to a file", { skip }, async () => {
  const { JobContext: Context } = await import("../src/worker/context.js");
  const { PayloadMismatch } = await import("../src/worker/payload.js");
  const { mkdtempSync, readFileSync: read } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const client = new Client({ target });
  const queue = uniqueQueue();
  const data = "0123456789abcdef".repeat(300 * 64); // 300 KiB: over the broker's offload threshold
  const seen: { fetched: string; ref?: number; saved: string; mismatch: boolean }[] = [];
  const dir = mkdtempSync(`${tmpdir()}/node-payload-`);
  const w = worker(queue).handle("file", async (ctx: JobContext) => {
    const streaming = new Context({ ...ctx, payload: new Uint8Array() });
    await streaming.savePayload(`${dir}/out.bin`);
    const lying = new Context({ ...ctx, payload: new Uint8Array(), payloadRef: { ...ctx.payloadRef!, sha256: "0".repeat(64) } });
    const mismatch = await lying.readPayload().then(() => false, (e) => e instanceof PayloadMismatch);
    seen.push({ fetched: ctx.text(), ref: ctx.payloadRef?.size, saved: read(`${dir}/out.bin`, "utf8"), mismatch });
  });
  try {
    await client.enqueue(queue, "file", data);
    const running = w.run({ target });
    await eventually(() => seen.length === 1, 15_000, "the handler to run");
    w.stop();
    await running;
    assert.deepEqual(seen, [{ fetched: data, ref: data.length, saved: data, mismatch: true }]);
  } finally {
    client.close();
  }
});
