// Batches acks and nacks: one Ack and one Nack call for whatever accumulated over a few ms (or as
// soon as `maxBatch` are waiting), retried while the broker is away.
import { LeaseOutcome, type AckItem, type LeaseResult, type NackItem } from "../gen/broker/v1/job_service_pb.js";
import { isRpcFailure, codeName } from "../errors.js";
import { Backoff, WORKER_RETRYABLE } from "../retrying.js";
import type { Logger } from "./log.js";

type Kind = "ack" | "nack";
type Msg = AckItem | NackItem;
interface Item { msg: Msg; resolve: (r: LeaseResult | undefined) => void }

export class Settler {
  readonly calls = { ack: 0, nack: 0 };
  private readonly pending: Record<Kind, Item[]> = { ack: [], nack: [] };
  private timer: NodeJS.Timeout | undefined;
  private readonly deliveries = new Set<Promise<void>>();
  private giveUpAt: number | undefined;

  constructor(private readonly send: { ack: (m: AckItem[]) => Promise<LeaseResult[]>; nack: (m: NackItem[]) => Promise<LeaseResult[]> },
    private readonly log: Logger, private readonly pause: (ms: number) => Promise<void>,
    private readonly intervalMs = 5, private readonly maxBatch = 100) {}

  /** Resolves with the broker's LeaseResult for the job (undefined if it could not be delivered). */
  ack(item: AckItem): Promise<LeaseResult | undefined> { return this.add("ack", item); }
  nack(item: NackItem): Promise<LeaseResult | undefined> { return this.add("nack", item); }

  get waiting(): number { return this.pending.ack.length + this.pending.nack.length; }

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
    for (const kind of ["ack", "nack"] as const) {
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
        results = kind === "ack" ? await this.send.ack(batch.map((b) => b.msg as AckItem))
          : await this.send.nack(batch.map((b) => b.msg as NackItem));
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

  /** Send what is waiting, retrying for at most `timeoutMs`, and wait for every delivery. */
  async close(timeoutMs: number): Promise<void> {
    this.giveUpAt = Date.now() + timeoutMs;
    this.flush();
    while (this.deliveries.size) await Promise.allSettled([...this.deliveries]);
  }
}
