// The drain benchmark's Node worker (bench/proc/sdk_worker.py's twin, same line protocol): a no-op
// handler; prints `ready`, waits for `go` on stdin, runs until SIGTERM, prints `stats {...}`.
//   node dist/bench/worker.js --target HOST:PORT --queue Q [--concurrency N] [--unary]
import { createInterface } from "node:readline";
import { Worker } from "../src/index.js";

const args = process.argv.slice(2);
const arg = (name: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : undefined; };
const worker = new Worker(arg("queue")!, {
  concurrency: Number(arg("concurrency") ?? 10), shutdownGraceMs: 1000, session: !args.includes("--unary"),
  leaseDurationMs: arg("lease-duration") ? Number(arg("lease-duration")) * 1000 : undefined,
});
worker.handle("noop", () => undefined);
console.log("ready");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line.trim() === "go") break;
lines.close();
await worker.run({ target: arg("target")! });
console.log(`stats ${JSON.stringify(worker.stats)}`);
