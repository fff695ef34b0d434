// Batches acks, nacks and snoozes: one Ack, one Nack and one Snooze call for whatever accumulated
// over a few ms (or as soon as `maxBatch` are waiting), retried while the broker is away.
import { LeaseOutcome, type AckItem, type LeaseResult, type NackItem, type SnoozeItem } from "../gen/broker/v1/job_service_pb.js";
import { isRpcFailure, codeName } from "../errors.js";
import { Backoff, WORKER_RETRYABLE } from "../retrying.js";
import type { Logger } from "./log.js";

type Kind = "ack" | "nack" | "snooze";
type Msg = AckItem | NackItem | SnoozeItem;
const KINDS = ["ack", "nack", "snooze"] as const;
export interface Senders {
  ack: (m: AckItem[]) => Promise<LeaseResult[]>;
  nack: (m: NackItem[]) => Promise<LeaseResult[]>;
  snooze?: (m: SnoozeItem[]) => Promise<LeaseResult[]>;
}
interface Item { msg: Msg; resolve: (r: LeaseResult | undefined) => void }

export class Settler {
  readonly calls = { ack: 0, nack: 0, snooze: 0 };
  private readonly pending: Record<Kind, Item[]> = { ack: [], nack: [], snooze: [] };
  private timer: NodeJS.Timeout | undefined;
  private readonly deliveries = new Set<Promise<void>>();
  private giveUpAt: number | undefined;

  constructor(private readonly send: Senders,
    private readonly log: Logger, private readonly pause: (ms: number) => Promise<void>,
    private readonly intervalMs = 5, private readonly maxBatch = 100) {}

  /** Resolves with the broker's LeaseResult for the job (undefined if it could not be delivered). */
  ack(item: AckItem): Promise<LeaseResult | undefined> { return this.add("ack", item); }
  nack(item: NackItem): Promise<LeaseResult | undefined> { return this.add("nack", item); }
  snooze(item: SnoozeItem): Promise<LeaseResult | undefined> { return this.add("snooze", item); }

  get waiting(): number { return this.pending.ack.length + this.pending.nack.length + this.pending.snooze.length; }

  private add(kind: Kind, msg: Msg): Promise<LeaseResult | undefined> {
    return new Promise((resolve) => {
      this.pending[kind].push({ msg, resolve });
      if (this.pending[kind].length >= this.maxBatch || this.giveUpAt !== undefined) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
    });
  }

  /** Send everything waiting, in chunks of maxBatch, concurrently. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const kind of KINDS) {
      const taken = this.pending[kind].splice(0);
      for (let i = 0; i < taken.length; i += this.maxBatch) {
        const delivery = this.deliver(kind, taken.slice(i, i + this.maxBatch));
        this.deliveries.add(delivery);
        void delivery.finally(() => this.deliveries.delete(delivery));
      }
    }
  }

  private async deliver(kind: Kind, batch: Item[]): Promise<void> {
    const backoff = new Backoff();
    let results: (LeaseResult | undefined)[];
    for (;;) {
      try {
        this.calls[kind] += 1;
        results = await this.call(kind, batch.map((b) => b.msg));
        break;
      } catch (error) {
        const retryable = isRpcFailure(error) && WORKER_RETRYABLE.has(error.code);
        if (!retryable || (this.giveUpAt !== undefined && Date.now() >= this.giveUpAt)) {
          this.log.error(`${kind} of ${batch.length} jobs failed for good: ${String(error)}`);
          results = [];
          break;
        }
        const delay = backoff.next(error);
        this.log.warn(`${kind} of ${batch.length} jobs failed (${codeName((error as { code: number }).code)}); retrying in ${Math.round(delay)} ms`);
        await this.pause(this.giveUpAt !== undefined ? Math.min(delay, Math.max(0, this.giveUpAt - Date.now())) : delay);
      }
    }
    batch.forEach((item, i) => {
      const result = results[i];
      if (result && result.outcome !== LeaseOutcome.OK) {
        this.log.warn(`${kind} of job ${result.jobId}: ${LeaseOutcome[result.outcome]}, result dropped (the job was redelivered or cancelled)`);
      }
      item.resolve(result);
    });
  }

  private call(kind: Kind, msgs: Msg[]): Promise<LeaseResult[]> {
    if (kind === "ack") return this.send.ack(msgs as AckItem[]);
    if (kind === "nack") return this.send.nack(msgs as NackItem[]);
    if (!this.send.snooze) throw new Error("this settler sends no snoozes");
    return this.send.snooze(msgs as SnoozeItem[]);
  }

  /** Send what is waiting, retrying for at most `timeoutMs`, and wait for every delivery. */
  async close(timeoutMs: number): Promise<void> {
    this.giveUpAt = Date.now() + timeoutMs;
    this.flush();
    while (this.deliveries.size) await Promise.allSettled([...this.deliveries]);
  }
}
