// When to retry a failed call and how long to wait (the Python SDK's retrying.py).
import { status } from "@grpc/grpc-js";
import { fromRpcError, isRpcFailure, type RpcFailure } from "./errors.js";
import type { CallRetry } from "./options.js";
import { retryDelayFromMetadata } from "./status.js";

// Safe to repeat only because every request the clients retry is idempotent (enqueues carry an
// idempotency key; heartbeat, ack and nack are idempotent by contract). CANCELLED reaches a
// client that never cancels its calls when a broker stops mid-call.
export const RETRYABLE = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED]);
// The worker keeps going through these; anything else is a configuration error.
export const WORKER_RETRYABLE = new Set([...RETRYABLE, status.RESOURCE_EXHAUSTED, status.ABORTED,
  status.INTERNAL, status.UNKNOWN]);
// The longest RetryInfo delay the worker's loops honour.
export const MAX_HINT_MS = 60_000;

/** The server's RetryInfo hint (ms) on a failed call, if any. */
export function retryHint(error: unknown): number | undefined {
  if (!isRpcFailure(error)) return undefined;
  return error.retryDelayMs ?? retryDelayFromMetadata(error.metadata);
}

/** Backoff before retry number `retry` (1 for the first), with equal jitter. */
export function backoff(policy: Pick<CallRetry, "initialBackoffMs" | "maxBackoffMs" | "multiplier">, retry: number,
  random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.multiplier ** Math.max(0, retry - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Ms to wait after `attempt` (1-based) failed with `error`, or undefined to give up. UNAVAILABLE,
 * DEADLINE_EXCEEDED and CANCELLED back off; RESOURCE_EXHAUSTED is retried only with a RetryInfo
 * hint, after exactly that delay; a hint on any retryable code wins over the backoff. */
export function nextDelay(error: unknown, attempt: number, policy: CallRetry): number | undefined {
  if (attempt >= policy.maxAttempts || !isRpcFailure(error)) return undefined;
  const hint = retryHint(error);
  if (error.code === status.RESOURCE_EXHAUSTED) return hint === undefined ? undefined : Math.min(hint, policy.maxRetryInfoDelayMs);
  if (!RETRYABLE.has(error.code)) return undefined;
  if (hint !== undefined) return Math.min(hint, policy.maxRetryInfoDelayMs);
  return backoff(policy, attempt);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Run `call` until it succeeds or `nextDelay` gives up; throw the SDK error then. */
export async function callWithRetry<T>(call: () => Promise<T>, policy: CallRetry,
  pause: (ms: number) => Promise<void> = sleep): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const delay = nextDelay(error, attempt, policy);
      if (delay === undefined) throw fromRpcError(error);
      await pause(delay);
    }
  }
}

/** Open-ended backoff for the worker's loops (the broker may be away for long); a RetryInfo
 * hint (a rate limit) is the wait instead. `reset()` after a success. */
export class Backoff {
  failures = 0;
  constructor(private readonly policy = { initialBackoffMs: 100, maxBackoffMs: 5000, multiplier: 2 }) {}
  next(error?: unknown): number {
    this.failures += 1;
    const hint = retryHint(error);
    if (hint !== undefined) return Math.min(hint, MAX_HINT_MS);
    return backoff(this.policy, this.failures);
  }
  reset(): void { this.failures = 0; }
}

export type { RpcFailure };
