// What a handler sees of its job (the Python SDK's JobContext).
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { LeasedJob } from "../gen/broker/v1/job_service_pb.js";

/** The broker's default bound on a progress message (BROKER_MAX_PROGRESS_CHARS). */
export const MAX_PROGRESS_CHARS = 256;

export interface Progress { fraction: number; message: string }

/** The reason a handler's signal aborts with when the worker no longer holds its lease. */
export class LeaseLost extends Error { override name = "LeaseLost"; }

export interface JobFields {
  id: string;
  kind: string;
  queue: string;
  payload: Uint8Array;
  headers: Record<string, string>;
  attempt: number;
  maxAttempts: number;
  idempotencyKey: string;
  priority: number;
  leaseDeadline?: Date;
  workerId: string;
  /** Times the job was snoozed before this attempt (a snooze uses no attempt: bound them here). */
  snoozes?: number;
}

export class JobContext implements JobFields {
  id: string; kind: string; queue: string; payload: Uint8Array; headers: Record<string, string>;
  attempt: number; maxAttempts: number; idempotencyKey: string; priority: number;
  /** Moves forward with each heartbeat. */
  leaseDeadline?: Date;
  workerId: string;
  /** Times the job was snoozed before this attempt (a snooze uses no attempt: bound them here). */
  snoozes: number;
  private readonly controller = new AbortController();
  private reported: Progress | undefined;
  private sent: Progress | undefined;

  constructor(fields: JobFields) {
    this.id = fields.id; this.kind = fields.kind; this.queue = fields.queue; this.payload = fields.payload;
    this.headers = fields.headers; this.attempt = fields.attempt; this.maxAttempts = fields.maxAttempts;
    this.idempotencyKey = fields.idempotencyKey; this.priority = fields.priority;
    this.leaseDeadline = fields.leaseDeadline; this.workerId = fields.workerId; this.snoozes = fields.snoozes ?? 0;
  }

  static fromLeased(leased: LeasedJob, workerId: string): JobContext {
    const job = leased.job!;
    return new JobContext({
      id: job.id, kind: job.kind, queue: job.queue, payload: job.payload, headers: { ...job.headers },
      attempt: leased.attempt || job.attempt, maxAttempts: job.maxAttempts, idempotencyKey: job.idempotencyKey,
      priority: job.priority, workerId, snoozes: job.snoozes,
      leaseDeadline: leased.leaseExpiresAt ? timestampDate(leased.leaseExpiresAt) : undefined,
    });
  }

  /** Aborts when the worker no longer holds the lease (lost, timed out, or shutdown's grace over):
   * pass it to fetch, timers and database calls; the result of an aborted handler is dropped. */
  get signal(): AbortSignal { return this.controller.signal; }
  /** True once the lease is gone. */
  get lost(): boolean { return this.controller.signal.aborted; }
  get isLastAttempt(): boolean { return this.maxAttempts > 0 && this.attempt >= this.maxAttempts; }
  text(): string { return new TextDecoder().decode(this.payload); }
  json<T = unknown>(): T { return JSON.parse(this.text()) as T; }

  /** Report how far the attempt has come: `fraction` from 0 to 1 and a short note (at most
   * MAX_PROGRESS_CHARS characters). Sent with the next heartbeat (the latest report only); GetJob
   * and the dashboard show it, and each change is an event of the job. */
  progress(fraction: number, message = ""): void {
    if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`progress fraction must be 0 to 1, got ${fraction}`);
    if (message.length > MAX_PROGRESS_CHARS) {
      throw new RangeError(`progress message of ${message.length} characters; at most ${MAX_PROGRESS_CHARS}`);
    }
    this.reported = { fraction, message };
  }

  /** @internal The progress reported since the broker last took one (undefined: nothing new). */
  unsentProgress(): Progress | undefined {
    const p = this.reported;
    return p && (p.fraction !== this.sent?.fraction || p.message !== this.sent?.message) ? p : undefined;
  }

  /** @internal */
  progressSent(p: Progress): void { this.sent = p; }

  /** @internal */
  abort(reason: Error): void { this.controller.abort(reason); }
}
