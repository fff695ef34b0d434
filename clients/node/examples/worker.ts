// A runnable worker: `npm run build && node dist/examples/worker.js` (a broker on 127.0.0.1:50051:
// `make run` at the repository root). Settings from the environment: BROKER_TARGET, BROKER_TOKEN,
// BROKER_QUEUE (default "emails"), CONCURRENCY (8), LEASE_MS (the job's own). It prints one JSON
// line per job it finished; SIGTERM or Ctrl-C drains it (a second one stops it at once).
import { setTimeout as sleep } from "node:timers/promises";
import { PermanentError, RetryLater, Worker, type JobContext } from "../src/index.js";

interface Email { to: string; delayMs?: number; failTimes?: number }

const worker = new Worker(process.env.BROKER_QUEUE ?? "emails", {
  concurrency: Number(process.env.CONCURRENCY ?? 8),
  leaseDurationMs: process.env.LEASE_MS ? Number(process.env.LEASE_MS) : undefined,
  shutdownGraceMs: 10_000,
});

worker.handle("send_email", async (ctx: JobContext) => {
  const email = ctx.json<Email>();
  if (!email.to.includes("@")) throw new PermanentError("bad address"); // dead letter now
  if (ctx.attempt <= (email.failTimes ?? 0)) throw new RetryLater(0, "mail server busy"); // again at once
  await sleep(email.delayMs ?? 0, undefined, { signal: ctx.signal }); // aborts when the lease is lost
  // A real handler would send with ctx.idempotencyKey as the dedupe key (at-least-once delivery).
  console.log(JSON.stringify({ done: ctx.id, attempt: ctx.attempt, to: email.to, key: ctx.idempotencyKey,
    contentType: ctx.headers["content-type"] }));
});

await worker.run({ target: process.env.BROKER_TARGET ?? "127.0.0.1:50051", token: process.env.BROKER_TOKEN });
console.error(`stopped: ${JSON.stringify(worker.stats)}`);
process.exitCode = worker.forced ? 1 : 0;
