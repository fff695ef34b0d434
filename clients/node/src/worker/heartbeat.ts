// One Heartbeat call for every lease the worker holds, whenever the oldest is a third through it.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { ProgressSchema } from "../gen/broker/v1/job_pb.js";
import { HeartbeatItemSchema, LeaseOutcome, type LeaseResult } from "../gen/broker/v1/job_service_pb.js";
import { codeName, isRpcFailure } from "../errors.js";
import { Backoff } from "../retrying.js";
import type { InFlight } from "./inflight.js";
import type { Logger } from "./log.js";
import type { WorkerRpc } from "./rpc.js";

// Check again at least this often, so a newly started job is never overlooked for long.
const MAX_SLEEP_MS = 1000;
// Never two calls back to back, whatever the leases say.
const MIN_GAP_MS = 10;

export class Heartbeater {
  calls = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly backoff = new Backoff();

  constructor(private readonly rpc: WorkerRpc, private readonly held: () => InFlight[],
    private readonly onLost: (item: InFlight) => void, private readonly log: Logger,
    private readonly pause: (ms: number) => Promise<void>) {}

  async run(): Promise<void> {
    while (!this.stopped) {
      const held = this.held().filter((i) => !i.lost);
      const due = Math.min(...held.map((i) => i.heartbeatDue), Date.now() + MAX_SLEEP_MS);
      const wait = due - Date.now();
      if (wait > 0) {
        await this.sleep(Math.min(wait, MAX_SLEEP_MS));
        continue;
      }
      const error = await this.beatOnce();
      if (error === undefined) await this.sleep(MIN_GAP_MS);
      else if (!this.stopped) await this.pause(this.backoff.next(error));
    }
  }

  stop(): void { this.stopped = true; this.wake?.(); }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() { clearTimeout(timer); resolve(); }
      this.wake = done;
    });
  }

  /** One Heartbeat for every held lease; the error when the call failed. A lease whose handler
   * reported progress since the broker last took one goes as an item with it (the latest only). */
  async beatOnce(): Promise<unknown> {
    const all = this.held().filter((i) => !i.lost);
    if (!all.length) return undefined;
    const sentAt = Date.now();
    const progress = new Map(all.flatMap((i) => { const p = i.ctx.unsentProgress(); return p ? [[i, p] as const] : []; }));
    const plain = all.filter((i) => !progress.has(i));
    const held = [...plain, ...progress.keys()]; // the order of the results: leases first, then items
    const items = [...progress].map(([i, p]) => create(HeartbeatItemSchema, { lease: i.ref, progress: create(ProgressSchema, p) }));
    let results: LeaseResult[];
    try {
      this.calls += 1;
      results = await (items.length ? this.rpc.heartbeat(plain.map((i) => i.ref), items) : this.rpc.heartbeat(plain.map((i) => i.ref)));
    } catch (error) {
      this.log.warn(`heartbeat for ${held.length} leases failed: ${isRpcFailure(error) ? codeName(error.code) : String(error)}`);
      return error ?? new Error("heartbeat failed");
    }
    this.backoff.reset();
    held.forEach((item, i) => {
      const result = results[i];
      if (!result) return;
      if (result.outcome === LeaseOutcome.OK) {
        item.extendedAt = sentAt;
        const sent = progress.get(item);
        if (sent) item.ctx.progressSent(sent);
        if (result.at) item.ctx.leaseDeadline = timestampDate(result.at);
      } else { // LOST or NOT_FOUND: someone else holds the job now, or nobody does
        this.log.warn(`lease on job ${item.jobId} lost (${LeaseOutcome[result.outcome]}); aborting its handler`);
        this.onLost(item);
      }
    });
    return undefined;
  }
}
