// What a producer sends (JobRequest) and gets back (EnqueueResult), and how a request becomes a
// wire JobSpec (the Python SDK's jobs.py).
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, type Duration } from "@bufbuild/protobuf/wkt";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { Jitter, JobSpecSchema, PayloadRefSchema, RetryPolicySchema, type JobSpec } from "./gen/broker/v1/job_pb.js";
import type { PayloadRef } from "./worker/payload.js";

export type JitterName = "none" | "full" | "equal";

/** Per-job backoff: delay(n) = min(maxDelayMs, initialDelayMs * multiplier^(n-1)), then jitter.
 * Fields left out take the queue's defaults. */
export interface RetryPolicy {
  initialDelayMs?: number;
  maxDelayMs?: number;
  multiplier?: number;
  jitter?: JitterName;
}

export type Payload = Uint8Array | string | unknown;

/** The options of one job (everything but queue, kind and payload). */
export interface JobOptions {
  /** Lower runs first; default 0. */
  priority?: number;
  /** Run no earlier than this long from now (give delayMs or runAt, not both). */
  delayMs?: number;
  runAt?: Date;
  headers?: Record<string, string>;
  retryPolicy?: RetryPolicy;
  /** Default: the queue's (10). */
  maxAttempts?: number;
  /** Default: a fresh uuid4, made once per logical enqueue, so retries carry the same key. */
  idempotencyKey?: string;
  /** How long a worker's lease on this job lasts (broker default 30 s). */
  leaseDurationMs?: number;
  /** Lapsed leases before the job goes DEAD as a poison job (queue default 5). */
  maxLeaseExpiries?: number;
  /**
   * Jobs of the queue with the same key (e.g. a customer id) run at most the queue's
   * perKeyConcurrency at a time, across every worker and broker replica. Default: no key.
   */
  concurrencyKey?: string;
  /** The payload is this uploaded object (from `client.upload`), not inline bytes: give no payload. */
  payloadRef?: PayloadRef;
}

export interface JobRequest extends JobOptions {
  queue: string;
  kind: string;
  payload?: Payload;
}

export interface EnqueueResult {
  jobId: string;
  /** False when the idempotency key already named a job (jobId is that job). */
  created: boolean;
  idempotencyKey: string;
}

const JITTER: Record<JitterName, Jitter> = { none: Jitter.NONE, full: Jitter.FULL, equal: Jitter.EQUAL };

export function durationFromMs(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  return create(DurationSchema, { seconds: BigInt(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) });
}

export function durationToMs(d: Duration | undefined): number | undefined {
  return d === undefined ? undefined : Number(d.seconds) * 1000 + d.nanos / 1e6;
}

/** Bytes go as they are; a string as UTF-8 text; anything else as compact JSON. Returns the
 * bytes and the content type to announce (undefined for raw bytes). */
export function encodePayload(payload: Payload): [Uint8Array, string | undefined] {
  if (payload instanceof Uint8Array) return [payload, undefined];
  if (typeof payload === "string") return [new TextEncoder().encode(payload), "text/plain; charset=utf-8"];
  if (payload === undefined) return [new Uint8Array(), undefined];
  return [new TextEncoder().encode(JSON.stringify(payload)), "application/json"];
}

const isWhole = (n: number) => Number.isInteger(n);

/** Throws a RangeError for a bad request, before anything is sent. */
export function checkRequest(job: JobRequest): void {
  if (!job.queue || !job.kind) throw new RangeError("a job needs a queue and a kind");
  if (job.delayMs !== undefined && job.runAt !== undefined) throw new RangeError("give delayMs or runAt, not both");
  if (job.delayMs !== undefined && !(job.delayMs >= 0)) throw new RangeError(`delayMs must be >= 0, got ${job.delayMs}`);
  if (job.runAt !== undefined && !(job.runAt instanceof Date && !Number.isNaN(job.runAt.getTime()))) {
    throw new RangeError("runAt must be a valid Date");
  }
  if (job.maxAttempts !== undefined && !(isWhole(job.maxAttempts) && job.maxAttempts >= 1)) {
    throw new RangeError(`maxAttempts must be a whole number >= 1, got ${job.maxAttempts}`);
  }
  if (job.maxLeaseExpiries !== undefined && !(isWhole(job.maxLeaseExpiries) && job.maxLeaseExpiries >= 1)) {
    throw new RangeError(`maxLeaseExpiries must be a whole number >= 1, got ${job.maxLeaseExpiries}`);
  }
  if (job.leaseDurationMs !== undefined && !(job.leaseDurationMs > 0)) {
    throw new RangeError(`leaseDurationMs must be positive, got ${job.leaseDurationMs}`);
  }
  if (job.payloadRef !== undefined) checkRef(job);
  if (job.priority !== undefined && !isWhole(job.priority)) throw new RangeError(`priority must be a whole number, got ${job.priority}`);
  const p = job.retryPolicy;
  if (p?.jitter !== undefined && !(p.jitter in JITTER)) throw new RangeError(`retryPolicy.jitter must be none, full or equal; got ${p.jitter}`);
  if (p?.multiplier !== undefined && !(p.multiplier >= 1)) throw new RangeError(`retryPolicy.multiplier must be at least 1, got ${p.multiplier}`);
}

function checkRef(job: JobRequest): void {
  const ref = job.payloadRef!;
  if (job.payload !== undefined) throw new RangeError("give a payload or a payloadRef, not both");
  if (typeof ref.key !== "string" || !ref.key) throw new RangeError("payloadRef.key must be the key client.upload returned");
  if (!(isWhole(ref.size) && ref.size >= 0)) throw new RangeError(`payloadRef.size must be a whole number >= 0, got ${ref.size}`);
  if (!/^[0-9a-f]{64}$/.test(ref.sha256)) throw new RangeError("payloadRef.sha256 must be 64 lowercase hex digits");
}

/** The request with an idempotency key: its own, or a fresh uuid4 (once per logical enqueue). */
export function keyed(job: JobRequest): JobRequest & { idempotencyKey: string } {
  checkRequest(job);
  return { ...job, idempotencyKey: job.idempotencyKey || randomUUID() };
}

/** The wire JobSpec; delayMs becomes runAt against `nowMs`, once, so retries do not push it later. */
export function toSpec(job: JobRequest, nowMs = Date.now()): JobSpec {
  const [payload, contentType] = encodePayload(job.payload);
  const headers = { ...(job.headers ?? {}) };
  if (contentType && !("content-type" in headers)) headers["content-type"] = contentType;
  const spec = create(JobSpecSchema, {
    queue: job.queue, kind: job.kind, payload, headers, idempotencyKey: job.idempotencyKey ?? "",
    priority: job.priority ?? 0, maxAttempts: job.maxAttempts ?? 0, maxLeaseExpiries: job.maxLeaseExpiries ?? 0,
    concurrencyKey: job.concurrencyKey ?? "",
  });
  const runAt = job.delayMs !== undefined ? nowMs + job.delayMs : job.runAt?.getTime();
  if (runAt !== undefined) spec.runAt = timestampFromMs(runAt);
  if (job.retryPolicy) {
    const p = job.retryPolicy;
    spec.retryPolicy = create(RetryPolicySchema, {
      multiplier: p.multiplier ?? 0, jitter: p.jitter ? JITTER[p.jitter] : Jitter.UNSPECIFIED,
      initialDelay: p.initialDelayMs !== undefined ? durationFromMs(p.initialDelayMs) : undefined,
      maxDelay: p.maxDelayMs !== undefined ? durationFromMs(p.maxDelayMs) : undefined,
    });
  }
  if (job.leaseDurationMs !== undefined) spec.leaseDuration = durationFromMs(job.leaseDurationMs);
  if (job.payloadRef) {
    const { key, size, sha256 } = job.payloadRef;
    spec.payloadRef = create(PayloadRefSchema, { key, size: BigInt(size), sha256 });
  }
  return spec;
}
