// Runs one handler on one job and turns what happened into an Outcome (ack or nack).
import { PermanentError, RetryLater } from "../errors.js";
import { JobContext } from "./context.js";

export type Handler = (ctx: JobContext) => unknown;
export interface HandlerEntry { kind: string; func: Handler; timeoutMs?: number }

// Errors travel to the broker with every failed attempt; keep them readable and bounded.
export const MAX_ERROR_CHARS = 8000;

export class Outcome {
  constructor(readonly ok: boolean, readonly error = "", readonly permanent = false,
    readonly retryAfterMs?: number, readonly value?: unknown, readonly exception?: unknown) {}

  static failed(exc: unknown): Outcome {
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

/** Run one attempt. Resolves with the Outcome, or with undefined when the context's signal aborted
 * first (lost lease, shutdown): the handler may run on, its result is dropped. */
export async function runHandler(entry: HandlerEntry | undefined, ctx: JobContext,
  defaultTimeoutMs?: number): Promise<Outcome | undefined> {
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
  const work = (async () => entry.func(ctx))().then((value) => new Outcome(true, "", false, undefined, value), Outcome.failed);
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
