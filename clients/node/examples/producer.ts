// A runnable producer: `node dist/examples/producer.js [COUNT]` enqueues COUNT (default 10)
// send_email jobs to BROKER_QUEUE ("emails") in one batch, then one more alone, and prints the
// results as JSON lines. BROKER_TARGET and BROKER_TOKEN as for the worker.
import { Client } from "../src/index.js";

const queue = process.env.BROKER_QUEUE ?? "emails";
const count = Number(process.argv[2] ?? 10);
const client = new Client({ target: process.env.BROKER_TARGET ?? "127.0.0.1:50051", token: process.env.BROKER_TOKEN });
try {
  const results = await client.enqueueBatch(Array.from({ length: count }, (_, i) => ({
    queue, kind: "send_email", payload: { to: `user${i}@example.com` }, headers: { "trace-id": `t${i}` },
  })));
  results.push(await client.enqueue(queue, "send_email", { to: "ada@example.com" }, { idempotencyKey: "welcome:ada", priority: -1 }));
  for (const r of results) console.log(JSON.stringify(r));
} finally {
  client.close();
}
