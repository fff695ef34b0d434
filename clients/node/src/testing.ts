// Test handlers without a broker: runJob runs one attempt exactly as the worker does (time
// limits, PermanentError and RetryLater classified) and returns the Outcome.
import { randomUUID } from "node:crypto";
import { encodePayload, type Payload } from "./jobs.js";
import { JobContext } from "./worker/context.js";
import { Outcome, runHandler, type Handler } from "./worker/execution.js";
import { Worker } from "./worker/worker.js";

export { Outcome };

export interface ContextFields {
  kind?: string; queue?: string; headers?: Record<string, string>; attempt?: number; maxAttempts?: number;
  jobId?: string; idempotencyKey?: string; priority?: number;
}

/** A JobContext as a worker would build it; `payload` is encoded like Client.enqueue. */
export function makeContext(payload: Payload = new Uint8Array(), f: ContextFields = {}): JobContext {
  const [data, contentType] = encodePayload(payload);
  const headers = { ...(f.headers ?? {}) };
  if (contentType && !("content-type" in headers)) headers["content-type"] = contentType;
  return new JobContext({
    id: f.jobId ?? randomUUID(), kind: f.kind ?? "test", queue: f.queue ?? "default", payload: data, headers,
    attempt: f.attempt ?? 1, maxAttempts: f.maxAttempts ?? 10, idempotencyKey: f.idempotencyKey ?? "",
    priority: f.priority ?? 0, workerId: "testing",
  });
}

/** Run one attempt of a handler (a function, or `kind` of a Worker). `timeoutMs` applies when the
 * handler has no limit of its own. `Outcome.unwrap()` returns the value or throws the failure. */
export async function runJob(target: Handler | Worker, payload: Payload = new Uint8Array(),
  options: ContextFields & { timeoutMs?: number } = {}): Promise<Outcome> {
  const { timeoutMs, ...fields } = options;
  let entry;
  if (target instanceof Worker) {
    if (!fields.kind) throw new RangeError("give kind to pick the handler from a Worker");
    entry = target.handlers.get(fields.kind);
  } else {
    entry = { kind: fields.kind ?? (target.name || "test"), func: target };
  }
  const ctx = makeContext(payload, { ...fields, kind: fields.kind ?? entry?.kind });
  return (await runHandler(entry, ctx, timeoutMs))!;
}
