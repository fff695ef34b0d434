// Runs one handler on one job and turns what happened into an Outcome (ack, nack or snooze).
import { PermanentError, RetryLater, Snooze } from "../errors.js";
import { JobContext } from "./context.js";

export type Handler = (ctx: JobContext) => unknown;
export interface HandlerEntry { kind: string; func: Handler; timeoutMs?: number }

// Errors travel to the broker with every failed attempt; keep them readable and bounded.
export const MAX_ERROR_CHARS = 8000;

// A job's result, kept with it at the ack (the broker's BROKER_MAX_RESULT_BYTES, 64 KiB by default).
export const MAX_RESULT_BYTES = 64 * 1024;

export class Outcome {
  constructor(readonly ok: boolean, readonly error = "", readonly permanent = false,
    readonly retryAfterMs?: number, readonly value?: unknown, readonly exception?: unknown,
    readonly result: Uint8Array = new Uint8Array(),
    /** The handler threw or returned Snooze: hand the job back for this long, no attempt used. */
    readonly snoozeMs?: number) {}

  static failed(exc: unknown): Outcome {
    if (exc instanceof Snooze) return new Outcome(false, "", false, undefined, undefined, exc, undefined, exc.delayMs);
    return new Outcome(false, formatError(exc), exc instanceof PermanentError, exc instanceof RetryLater ? exc.delayMs : undefined,
      undefined, exc);
  }

  /** The handler's return value; throws its error when the attempt failed. */
  unwrap(): unknown {
    if (this.ok) return this.value;
    throw this.exception ?? new Error(this.error);
  }
}

/** `Name: message` then the stack, cut in the middle when too long. */
export function formatError(exc: unknown): string {
  const text = exc instanceof Error ? `${exc.name}: ${exc.message}\n${exc.stack ?? ""}` : `Error: ${String(exc)}`;
  if (text.length <= MAX_ERROR_CHARS) return text;
  const half = MAX_ERROR_CHARS / 2;
  return `${text.slice(0, half)}\n[... stack cut ...]\n${text.slice(-half)}`;
}

export class HandlerTimeout extends Error { override name = "TimeoutError"; }

/** A handler's return value as the job's result: bytes as they are, a string as UTF-8, undefined
 * and null as no result, anything else as JSON. One that is not JSON, or over `maxBytes`, throws
 * a PermanentError: a retry would return the same. */
export function encodeResult(value: unknown, maxBytes = MAX_RESULT_BYTES): Uint8Array {
  let bytes: Uint8Array;
  if (value === undefined || value === null) return new Uint8Array();
  if (value instanceof Uint8Array) bytes = value;
  else if (typeof value === "string") bytes = new TextEncoder().encode(value);
  else {
    let text: string | undefined;
    try { text = JSON.stringify(value); } catch (exc) { throw new PermanentError(`the handler's result is not JSON: ${String(exc)}`); }
    if (text === undefined) throw new PermanentError(`the handler's result (${typeof value}) is not JSON`);
    bytes = new TextEncoder().encode(text);
  }
  if (bytes.length > maxBytes) throw new PermanentError(`the handler's result is ${bytes.length} bytes; at most ${maxBytes}`);
  return bytes;
}

function succeeded(value: unknown, maxResultBytes: number): Outcome {
  if (value instanceof Snooze) return Outcome.failed(value); // returned rather than thrown: the same
  try {
    return new Outcome(true, "", false, undefined, value, undefined, encodeResult(value, maxResultBytes));
  } catch (exc) {
    return Outcome.failed(exc);
  }
}

/** Run one attempt. Resolves with the Outcome, or with undefined when the context's signal aborted
 * first (lost lease, shutdown): the handler may run on, its result is dropped. */
export async function runHandler(entry: HandlerEntry | undefined, ctx: JobContext,
  defaultTimeoutMs?: number, maxResultBytes = MAX_RESULT_BYTES): Promise<Outcome | undefined> {
  if (entry === undefined) return new Outcome(false, `no handler registered for kind '${ctx.kind}' on this worker`);
  const timeoutMs = entry.timeoutMs ?? defaultTimeoutMs;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<"aborted" | "timeout">((resolve) => {
    onAbort = () => resolve("aborted");
    if (ctx.signal.aborted) resolve("aborted");
    else ctx.signal.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs !== undefined) timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const work = (async () => entry.func(ctx))().then((value) => succeeded(value, maxResultBytes), Outcome.failed);
  try {
    const first = await Promise.race([work, stopped]);
    if (first === "aborted") return undefined;
    if (first === "timeout") {
      const exc = new HandlerTimeout(`handler ran longer than ${timeoutMs! / 1000} s`);
      ctx.abort(exc); // ask the handler to stop; its result is dropped
      return new Outcome(false, `TimeoutError: handler ran longer than ${timeoutMs! / 1000} s`, false, undefined, undefined, exc);
    }
    return first;
  } finally {
    if (timer) clearTimeout(timer);
    if (onAbort) ctx.signal.removeEventListener("abort", onAbort);
  }
}
