// The worker's calls, as unary RPCs (UnaryRpc) or over one WorkerSession stream
// (SessionRpc, the default). Both fail the same way: an RpcFailure with `code`, `details` and the
// RetryInfo hint, so the lease loop, the settler and the heartbeater treat them alike.
import { create } from "@bufbuild/protobuf";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import {
  AckRequestSchema, HeartbeatRequestSchema, JobService, LeaseRefSchema, LeaseRequestSchema, NackItemSchema, NackRequestSchema,
  SessionRequestSchema, SnoozeRequestSchema,
  type AckItem, type HeartbeatItem, type LeaseRef, type LeaseResult, type LeasedJob, type NackItem, type SessionRequest,
  type SessionResponse, type SnoozeItem,
} from "../gen/broker/v1/job_service_pb.js";
import { durationFromMs, durationToMs } from "../jobs.js";
import type { RpcFailure } from "../errors.js";
import type { Transport } from "../transport.js";

export interface WorkerRpc {
  lease(maxJobs: number, waitMs: number, signal?: AbortSignal): Promise<LeasedJob[]>;
  /** The results of `refs`, then of `items` (leases with progress). */
  heartbeat(refs: LeaseRef[], items?: HeartbeatItem[]): Promise<LeaseResult[]>;
  ack(items: AckItem[]): Promise<LeaseResult[]>;
  nack(items: NackItem[]): Promise<LeaseResult[]>;
  snooze(items: SnoozeItem[]): Promise<LeaseResult[]>;
  close(): Promise<void>;
}

/** The error of a snooze that a broker without Snooze took as a nack. */
export const SNOOZED_ON_AN_OLD_BROKER = "snoozed (this broker has no Snooze: nacked with retry_after, an attempt used)";

export interface WorkerIdentity { workerId: string; queues: string[]; leaseDurationMs?: number }

/** A failed call on a session, shaped like grpc-js's ServiceError. */
export class CallFailed extends Error implements RpcFailure {
  override name = "CallFailed";
  constructor(readonly code: number, readonly details: string, readonly retryDelayMs?: number) {
    super(`${status[code] ?? code}: ${details}`);
  }
}

export function ref(jobId: string, leaseToken: string): LeaseRef {
  return create(LeaseRefSchema, { jobId, leaseToken });
}

export function leaseRequest(id: WorkerIdentity, maxJobs: number, waitMs: number) {
  return create(LeaseRequestSchema, {
    queues: id.queues, workerId: id.workerId, maxJobs, wait: durationFromMs(waitMs),
    leaseDuration: id.leaseDurationMs !== undefined ? durationFromMs(id.leaseDurationMs) : undefined,
  });
}

export class UnaryRpc implements WorkerRpc {
  constructor(private readonly transport: Transport, private readonly id: WorkerIdentity) {}
  private get timeout() { return this.transport.options.timeoutMs; }

  async lease(maxJobs: number, waitMs: number, signal?: AbortSignal): Promise<LeasedJob[]> {
    const r = await this.transport.unary(JobService.method.lease, leaseRequest(this.id, maxJobs, waitMs), this.timeout + waitMs, signal);
    return r.jobs;
  }
  async heartbeat(refs: LeaseRef[], items: HeartbeatItem[] = []): Promise<LeaseResult[]> {
    return (await this.transport.unary(JobService.method.heartbeat, create(HeartbeatRequestSchema, { leases: refs, items }), this.timeout)).results;
  }
  /** A broker older than Snooze (UNIMPLEMENTED) gets a Nack with `retry_after` instead: the job
   * runs again after the delay, but that attempt counts. */
  async snooze(items: SnoozeItem[]): Promise<LeaseResult[]> {
    try {
      return (await this.transport.unary(JobService.method.snooze, create(SnoozeRequestSchema, { items }), this.timeout)).results;
    } catch (error) {
      if ((error as RpcFailure)?.code !== status.UNIMPLEMENTED) throw error;
      return this.nack(items.map((i) => create(NackItemSchema, { lease: i.lease, error: SNOOZED_ON_AN_OLD_BROKER, retryAfter: i.delay })));
    }
  }
  async ack(items: AckItem[]): Promise<LeaseResult[]> {
    return (await this.transport.unary(JobService.method.ack, ackRequest(items), this.timeout)).results;
  }
  async nack(items: NackItem[]): Promise<LeaseResult[]> {
    return (await this.transport.unary(JobService.method.nack, create(NackRequestSchema, { items }), this.timeout)).results;
  }
  async close(): Promise<void> {}
}

type Stream = ClientDuplexStream<SessionRequest, SessionResponse>;
interface Waiting { resolve: (r: SessionResponse) => void; reject: (e: unknown) => void; stream: Stream }
type CallCase = "lease" | "heartbeat" | "ack" | "nack" | "snooze";

class NoSessions extends Error {}

/** Lease, Heartbeat, Ack, Nack and Snooze over one WorkerSession stream. The stream opens on first use
 * and again on the next call after it ended; calls waiting on an ended stream fail with its
 * status (UNAVAILABLE when it simply ended, as at a broker's shutdown) and are retried by their
 * loops. A broker without sessions (UNIMPLEMENTED) gets unary calls from then on. */
export class SessionRpc implements WorkerRpc {
  unaryOnly = false;
  opened = 0;
  private stream: Stream | undefined;
  private readonly ended = new WeakSet<Stream>();
  private readonly pending = new Map<bigint, Waiting>();
  private nextId = 0n;

  constructor(private readonly transport: Transport, private readonly id: WorkerIdentity, private readonly unary: UnaryRpc) {}
  private get timeout() { return this.transport.options.timeoutMs; }

  async lease(maxJobs: number, waitMs: number, signal?: AbortSignal): Promise<LeasedJob[]> {
    return this.either(async () => {
      const r = await this.ask("lease", leaseRequest(this.id, maxJobs, waitMs), waitMs, signal);
      return r.result.case === "lease" ? r.result.value.jobs : [];
    }, () => this.unary.lease(maxJobs, waitMs, signal));
  }
  async heartbeat(refs: LeaseRef[], items: HeartbeatItem[] = []): Promise<LeaseResult[]> {
    return this.either(async () => results(await this.ask("heartbeat", create(HeartbeatRequestSchema, { leases: refs, items }))),
      () => this.unary.heartbeat(refs, items));
  }
  async snooze(items: SnoozeItem[]): Promise<LeaseResult[]> {
    return this.either(async () => {
      try {
        return results(await this.ask("snooze", create(SnoozeRequestSchema, { items })));
      } catch (error) {
        // A broker older than Snooze reads no call in the request: unary calls decide.
        if (error instanceof CallFailed && error.code === status.INVALID_ARGUMENT && error.details.startsWith("call:")) {
          return this.unary.snooze(items);
        }
        throw error;
      }
    }, () => this.unary.snooze(items));
  }
  async ack(items: AckItem[]): Promise<LeaseResult[]> {
    return this.either(async () => results(await this.ask("ack", ackRequest(items))), () => this.unary.ack(items));
  }
  async nack(items: NackItem[]): Promise<LeaseResult[]> {
    return this.either(async () => results(await this.ask("nack", create(NackRequestSchema, { items }))),
      () => this.unary.nack(items));
  }

  private async either<T>(session: () => Promise<T>, unary: () => Promise<T>): Promise<T> {
    if (!this.unaryOnly) {
      try {
        return await session();
      } catch (error) {
        if (!(error instanceof NoSessions)) throw error;
      }
    }
    return unary();
  }

  /** End the stream: the broker answers what is in flight, then ends it. */
  async close(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    if (!stream || this.ended.has(stream)) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { stream.cancel(); resolve(); }, this.timeout);
      const done = () => { clearTimeout(timer); resolve(); };
      stream.once("close", done);
      stream.once("error", done);
      stream.once("end", done);
      stream.end();
    });
  }

  private open(): Stream {
    if (this.stream && !this.ended.has(this.stream)) return this.stream;
    const stream = this.transport.bidi(JobService.method.workerSession);
    this.opened += 1;
    this.stream = stream;
    stream.on("data", (response: SessionResponse) => {
      const waiting = this.pending.get(response.id);
      if (waiting && waiting.stream === stream) { this.pending.delete(response.id); waiting.resolve(response); }
    });
    stream.on("error", (error) => this.endStream(stream, error));
    stream.on("end", () => this.endStream(stream, new CallFailed(status.UNAVAILABLE, "the worker session ended")));
    stream.on("close", () => this.endStream(stream, new CallFailed(status.UNAVAILABLE, "the worker session ended")));
    return stream;
  }

  /** Every call waiting on `stream` fails with `error`; the next call opens a new stream. */
  private endStream(stream: Stream, error: unknown): void {
    if (this.ended.has(stream)) return;
    this.ended.add(stream);
    if (this.stream === stream) this.stream = undefined;
    for (const [id, waiting] of this.pending) {
      if (waiting.stream === stream) { this.pending.delete(id); waiting.reject(error); }
    }
  }

  private write(stream: Stream, message: SessionRequest): void {
    if (this.ended.has(stream)) return;
    try { stream.write(message); } catch (error) { this.endStream(stream, error); }
  }

  private async ask(kind: CallCase, request: SessionRequest["call"]["value"], extraWaitMs = 0,
    signal?: AbortSignal): Promise<SessionResponse> {
    const timeoutMs = this.timeout + extraWaitMs;
    const id = ++this.nextId;
    const stream = this.open();
    const message = create(SessionRequestSchema, {
      id, timeout: durationFromMs(timeoutMs), call: { case: kind, value: request } as SessionRequest["call"],
    });
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const giveUp = () => {
      if (!this.pending.delete(id)) return false;
      this.write(stream, create(SessionRequestSchema, { call: { case: "cancel", value: id } }));
      return true;
    };
    try {
      const response = await new Promise<SessionResponse>((resolve, reject) => {
        this.pending.set(id, { resolve, reject, stream });
        timer = setTimeout(() => {
          if (giveUp()) reject(new CallFailed(status.DEADLINE_EXCEEDED, `no answer on the session within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        onAbort = () => { if (giveUp()) reject(new CallFailed(status.CANCELLED, "cancelled by the worker")); };
        if (signal?.aborted) onAbort();
        else signal?.addEventListener("abort", onAbort, { once: true });
        this.write(stream, message);
      });
      if (response.result.case === "error") {
        const e = response.result.value;
        throw new CallFailed(e.code, e.message, durationToMs(e.retryDelay));
      }
      return response;
    } catch (error) {
      if ((error as RpcFailure)?.code === status.UNIMPLEMENTED && !(error instanceof CallFailed)) {
        this.unaryOnly = true;
        throw new NoSessions();
      }
      throw error;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }
}

function results(r: SessionResponse): LeaseResult[] {
  const v = r.result.value as { results?: LeaseResult[] } | undefined;
  return v?.results ?? [];
}

/** Acks without results go as plain `leases` (any broker understands them); a batch with a result
 * goes wholly as `items`, so the answers keep the batch's order. */
export function ackRequest(items: AckItem[]) {
  if (items.every((i) => i.result.length === 0)) return create(AckRequestSchema, { leases: items.map((i) => i.lease!) });
  return create(AckRequestSchema, { items });
}
