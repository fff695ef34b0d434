// A job this worker holds a lease on.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { LeaseRef, LeasedJob } from "../gen/broker/v1/job_service_pb.js";
import { durationToMs } from "../jobs.js";
import type { JobContext } from "./context.js";
import { ref } from "./rpc.js";

export const DEFAULT_LEASE_MS = 30_000;
// Heartbeat when a third of the lease has passed: two more tries before it lapses.
export const HEARTBEAT_FRACTION = 1 / 3;

/** How long this lease lasts: the worker's override, the job's lease duration, else what is left
 * until its deadline, else the broker's documented default. */
export function leaseMs(leased: LeasedJob, override?: number, now = Date.now()): number {
  if (override) return override;
  const own = durationToMs(leased.job?.leaseDuration);
  if (own) return own;
  if (leased.leaseExpiresAt) {
    const left = timestampMs(leased.leaseExpiresAt) - now;
    if (left > 0) return left;
  }
  return DEFAULT_LEASE_MS;
}

export class InFlight {
  readonly jobId: string;
  readonly token: string;
  readonly ref: LeaseRef;
  /** Set when the broker says the lease is gone: the result must be dropped. */
  lost = false;
  done: Promise<void> = Promise.resolve();

  constructor(readonly leased: LeasedJob, readonly ctx: JobContext, readonly leaseMs: number, public extendedAt: number) {
    this.jobId = leased.job!.id;
    this.token = leased.leaseToken;
    this.ref = ref(this.jobId, this.token);
  }

  get heartbeatDue(): number { return this.extendedAt + this.leaseMs * HEARTBEAT_FRACTION; }
}
