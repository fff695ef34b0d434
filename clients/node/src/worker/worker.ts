// The public Worker: handlers by kind, settings, and the run/stop lifecycle (the Python SDK's
// Worker, Pool and Session in one place).
import { create } from "@bufbuild/protobuf";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { AckItemSchema, NackItemSchema, SnoozeItemSchema, type LeasedJob } from "../gen/broker/v1/job_service_pb.js";
import { LeaseRefused, codeName, isRpcFailure } from "../errors.js";
import { durationFromMs } from "../jobs.js";
import { resolveOptions, type ConnectionOptions } from "../options.js";
import { Backoff, WORKER_RETRYABLE, sleep } from "../retrying.js";
import { Transport } from "../transport.js";
import { JobContext, LeaseLost } from "./context.js";
import type { Tracing } from "../tracing.js";
import { MAX_RESULT_BYTES, runHandler, type Handler, type HandlerEntry, type Outcome } from "./execution.js";
import { Heartbeater } from "./heartbeat.js";
import { InFlight, leaseMs } from "./inflight.js";
import { consoleLogger, type Logger } from "./log.js";
import { SessionRpc, UnaryRpc, type WorkerRpc } from "./rpc.js";
import { Settler } from "./settle.js";

export const MAX_LEASE_BATCH = 1000;
export const SHUTDOWN_ERROR = "worker shut down before the job finished";
// At shutdown, how long a Lease call already sent may take to come back.
const IN_FLIGHT_LEASE_WAIT_MS = 500;

export interface WorkerSettings {
  /** Queues to lease from (at least one). */
  queues: string[];
  /** Jobs running at once. Default 10. */
  concurrency: number;
  /** Lease length for every job (1 s to 12 h); undefined: each job's own (broker default 30 s). */
  leaseDurationMs?: number;
  /** Long-poll wait of each Lease call, 0 to 60 s. Default 10 s. */
  pollWaitMs: number;
  /** Lease calls in flight at once (1 to 8): slots freed while one is out are asked for by the next. Default 2. */
  leaseCalls: number;
  /** What running jobs get at shutdown before they are aborted and nacked. Default 30 s. */
  shutdownGraceMs: number;
  /** Time limit for handlers without their own. */
  handlerTimeoutMs?: number;
  /** Ack/nack batching: every flushIntervalMs (5) or as soon as flushSize (100) wait. */
  flushIntervalMs: number;
  flushSize: number;
  /** Calls over one WorkerSession stream (default); false: one unary RPC per call. */
  session: boolean;
  /** Shown to operators in job history. Default host-pid-random. */
  workerId: string;
  /** Largest result a handler may return (the broker keeps 64 KiB by default: BROKER_MAX_RESULT_BYTES). */
  maxResultBytes: number;
}

export interface WorkerOptions extends Partial<Omit<WorkerSettings, "queues">> {
  /** The default connection for `run`. */
  connection?: ConnectionOptions;
  logger?: Logger;
  /** Stop gracefully on SIGTERM and SIGINT (a second one: at once). Default true. */
  handleSignals?: boolean;
  /** Each attempt in a span continued from the job's headers: `otelTracing(api)` (tracing.ts). */
  tracing?: Tracing;
}

export interface WorkerStats {
  leased: number; succeeded: number; failed: number;
  /** Results dropped because the lease was lost (redelivered or cancelled). */
  lost: number;
  /** Jobs nacked for prompt redelivery at shutdown. */
  aborted: number;
  /** Jobs their handlers snoozed (handed back for later without using an attempt). */
  snoozed: number;
  running: number; peakRunning: number; leaseCalls: number;
  /** Lease calls that failed and were retried (the broker or its database was away). */
  leaseFailures: number;
}

function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

function check(s: WorkerSettings): WorkerSettings {
  const whole = (n: number, min: number) => Number.isInteger(n) && n >= min;
  if (!s.queues.length || s.queues.some((q) => !q)) throw new RangeError("the worker needs at least one queue");
  if (!whole(s.concurrency, 1)) throw new RangeError(`concurrency must be a whole number >= 1, got ${s.concurrency}`);
  if (s.leaseDurationMs !== undefined && !(s.leaseDurationMs >= 1000 && s.leaseDurationMs <= 12 * 3600_000)) {
    throw new RangeError(`leaseDurationMs must be 1 s to 12 h, got ${s.leaseDurationMs}`);
  }
  if (!(whole(s.leaseCalls, 1) && s.leaseCalls <= 8)) throw new RangeError(`leaseCalls must be 1 to 8, got ${s.leaseCalls}`);
  if (!(s.pollWaitMs >= 0 && s.pollWaitMs <= 60_000)) throw new RangeError(`pollWaitMs must be 0 to 60000, got ${s.pollWaitMs}`);
  if (!(s.shutdownGraceMs >= 0)) throw new RangeError(`shutdownGraceMs must be >= 0, got ${s.shutdownGraceMs}`);
  if (s.handlerTimeoutMs !== undefined && !(s.handlerTimeoutMs > 0)) throw new RangeError(`handlerTimeoutMs must be positive, got ${s.handlerTimeoutMs}`);
  if (!(s.flushIntervalMs >= 0)) throw new RangeError(`flushIntervalMs must be >= 0, got ${s.flushIntervalMs}`);
  if (!whole(s.maxResultBytes, 0)) throw new RangeError(`maxResultBytes must be a whole number >= 0, got ${s.maxResultBytes}`);
  if (!whole(s.flushSize, 1)) throw new RangeError(`flushSize must be a whole number >= 1, got ${s.flushSize}`);
  if (!s.workerId || s.workerId.length > 256) throw new RangeError("workerId must be 1-256 characters");
  return s;
}

function deferred(): { promise: Promise<void>; resolve: () => void; done: boolean } {
  const d = { done: false } as { promise: Promise<void>; resolve: () => void; done: boolean };
  d.promise = new Promise<void>((resolve) => { d.resolve = () => { d.done = true; resolve(); }; });
  return d;
}

/** Runs handlers for jobs leased from the broker, up to `concurrency` at once. Success acks; a
 * thrown error nacks (retried with the job's backoff, dead-lettered when attempts run out);
 * PermanentError dead-letters at once; RetryLater retries after its delay. At least once. */
export class Worker {
  readonly settings: WorkerSettings;
  readonly handlers = new Map<string, HandlerEntry>();
  stats: WorkerStats = Worker.freshStats();
  /** The rpc of the current run (for tests: `opened`, `unaryOnly`). */
  rpc: WorkerRpc | undefined;
  private readonly connection: ConnectionOptions | undefined;
  private readonly log: Logger;
  private readonly handleSignals: boolean;
  private readonly tracing: Tracing | undefined;
  private stopRequested = deferred();
  private forceRequested = deferred();
  private running = false;

  constructor(queues: string[] | string, options: WorkerOptions = {}) {
    const { connection, logger, handleSignals, tracing, ...rest } = options;
    this.tracing = tracing;
    this.settings = check({
      queues: typeof queues === "string" ? [queues] : [...queues], concurrency: 10, pollWaitMs: 10_000,
      leaseCalls: 2, shutdownGraceMs: 30_000, flushIntervalMs: 5, flushSize: 100, session: true, workerId: defaultWorkerId(),
      maxResultBytes: MAX_RESULT_BYTES,
      ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)),
    } as WorkerSettings);
    this.connection = connection;
    this.log = logger ?? consoleLogger;
    this.handleSignals = handleSignals ?? true;
  }

  private static freshStats(): WorkerStats {
    return { leased: 0, succeeded: 0, failed: 0, lost: 0, aborted: 0, snoozed: 0, running: 0, peakRunning: 0, leaseCalls: 0, leaseFailures: 0 };
  }

  /** Register the handler of `kind` (async or not). `timeoutMs`: its time limit. */
  handle(kind: string, func: Handler, options: { timeoutMs?: number } = {}): this {
    if (!kind) throw new RangeError("a handler needs a kind");
    if (this.handlers.has(kind)) throw new RangeError(`a handler for kind '${kind}' is already registered`);
    if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${options.timeoutMs}`);
    this.handlers.set(kind, { kind, func, timeoutMs: options.timeoutMs });
    return this;
  }

  /** Ask a running worker to stop: no new leases; running jobs get shutdownGraceMs (`force`: none). */
  stop(options: { force?: boolean } = {}): void {
    this.stopRequested.resolve();
    if (options.force) this.forceRequested.resolve();
  }

  /** True when the last run was stopped without waiting for running jobs. */
  get forced(): boolean { return this.forceRequested.done; }

  /** Lease and run jobs until stop() or SIGTERM/SIGINT, then shut down gracefully. Rejects with
   * LeaseRefused when the broker refuses to lease for a reason retrying cannot fix. */
  async run(connection?: ConnectionOptions): Promise<void> {
    if (this.running) throw new Error("the worker is already running");
    this.running = true;
    this.stopRequested = deferred();
    this.forceRequested = deferred();
    const s = this.settings;
    const options = resolveOptions({ ...(this.connection ?? {}), ...(connection ?? {}) });
    const transport = new Transport(options);
    const identity = { workerId: s.workerId, queues: s.queues, leaseDurationMs: s.leaseDurationMs };
    const unary = new UnaryRpc(transport, identity);
    const rpc: WorkerRpc = s.session ? new SessionRpc(transport, identity, unary) : unary;
    this.rpc = rpc;
    const pause = (ms: number) => transport.pause(ms);
    const settler = new Settler({ ack: (r) => rpc.ack(r), nack: (n) => rpc.nack(n), snooze: (z) => rpc.snooze(z) },
      this.log, pause, s.flushIntervalMs, s.flushSize);
    const stats = this.stats = Worker.freshStats();
    const held = new Map<string, InFlight>();
    let slotFreed = deferred();
    let stopping = false;
    const leaseAbort = new AbortController();

    const settle = (item: InFlight, outcome: Outcome) => {
      if (outcome.ok) {
        stats.succeeded += 1;
        void settler.ack(create(AckItemSchema, { lease: item.ref, result: outcome.result }));
        return;
      }
      if (outcome.snoozeMs !== undefined) {
        stats.snoozed += 1;
        void settler.snooze(create(SnoozeItemSchema, { lease: item.ref, delay: durationFromMs(outcome.snoozeMs) }));
        return;
      }
      stats.failed += 1;
      this.log.info(`job ${item.jobId} (${item.ctx.kind}) attempt ${item.ctx.attempt} failed: ${outcome.error.split("\n")[0]}`);
      void settler.nack(create(NackItemSchema, {
        lease: item.ref, error: outcome.error, permanent: outcome.permanent,
        retryAfter: outcome.retryAfterMs !== undefined ? durationFromMs(outcome.retryAfterMs) : undefined,
      }));
    };
    const start = (leased: LeasedJob) => {
      const ctx = JobContext.fromLeased(leased, s.workerId);
      const item = new InFlight(leased, ctx, leaseMs(leased, s.leaseDurationMs), Date.now());
      held.set(item.jobId, item);
      stats.leased += 1;
      stats.running += 1;
      stats.peakRunning = Math.max(stats.peakRunning, stats.running);
      item.done = (async () => {
        let outcome: Outcome | undefined;
        try {
          const attempt = () => runHandler(this.handlers.get(ctx.kind), ctx, s.handlerTimeoutMs, s.maxResultBytes);
          outcome = await (this.tracing ? this.tracing.process(ctx, attempt) : attempt());
        } finally {
          if (held.get(item.jobId) === item) held.delete(item.jobId);
          stats.running -= 1;
          slotFreed.resolve();
        }
        if (item.lost) stats.lost += 1;
        else if (outcome === undefined) {
          stats.aborted += 1;
          void settler.nack(create(NackItemSchema, { lease: item.ref, error: SHUTDOWN_ERROR, retryAfter: durationFromMs(0) }));
        } else settle(item, outcome);
      })();
    };
    const lost = (item: InFlight) => {
      item.lost = true;
      item.ctx.abort(new LeaseLost(`the lease on job ${item.jobId} was lost`));
    };
    // Up to leaseCalls Lease calls are out at once, each for slots no other call asked for; a
    // call beside another asks for at least a quarter of the slots (no call per finished job).
    const overlapMin = Math.max(1, Math.floor(s.concurrency / 4));
    const backoff = new Backoff();
    const calls = new Set<Promise<void>>();
    let asked = 0;
    let retryAt = 0;
    let refusal: unknown;
    const leaseOne = async (n: number) => {
      let jobs: LeasedJob[] = [];
      try {
        stats.leaseCalls += 1;
        jobs = await rpc.lease(n, s.pollWaitMs, leaseAbort.signal);
        backoff.reset();
      } catch (error) {
        if (stopping) return;
        if (!isRpcFailure(error) || !WORKER_RETRYABLE.has(error.code)) {
          refusal = new LeaseRefused(`Lease refused: ${isRpcFailure(error) ? `${codeName(error.code)}: ${error.details}` : String(error)}`,
            isRpcFailure(error) ? error.code : undefined, isRpcFailure(error) ? error.details : "", { cause: error });
          return;
        }
        stats.leaseFailures += 1;
        const delay = backoff.next(error);
        this.log.warn(`lease failed (${codeName(error.code)}); retrying in ${Math.round(delay)} ms`);
        retryAt = Date.now() + delay;
      } finally {
        asked -= n;
        slotFreed.resolve();
      }
      for (const leased of jobs) start(leased);
    };
    const leaseLoop = async () => {
      while (!stopping && refusal === undefined) {
        const want = s.concurrency - held.size - asked;
        if ((calls.size > 0 && (calls.size >= s.leaseCalls || want < overlapMin)) || want <= 0) {
          slotFreed = deferred();
          await slotFreed.promise;
          continue;
        }
        if (retryAt) {  // a call failed: wait out its backoff (or less, when the channel is back)
          const delay = retryAt - Date.now();
          retryAt = 0;
          if (delay > 0) await pause(delay);
          continue;
        }
        const n = Math.min(want, MAX_LEASE_BATCH);
        asked += n;
        const call: Promise<void> = leaseOne(n).finally(() => { calls.delete(call); slotFreed.resolve(); });
        calls.add(call);
      }
      if (refusal !== undefined) throw refusal;  // the worker stops; the other calls are cut
      await Promise.all(calls);  // stopping: what the calls in flight bring still runs
    };

    const heartbeater = new Heartbeater(rpc, () => [...held.values()], lost, this.log, pause);
    const onSignal = (signal: NodeJS.Signals) => {
      const again = this.stopRequested.done;
      this.log.warn(`${signal}: ${again ? "stopping now" : "draining (send again to stop at once)"}`);
      this.stop({ force: again });
    };
    if (this.handleSignals) { process.on("SIGTERM", onSignal); process.on("SIGINT", onSignal); }
    this.log.info(`worker ${s.workerId}: queues ${s.queues.join(",")}, concurrency ${s.concurrency}, broker ${options.target}`);

    const beating = heartbeater.run();
    let leaseError: unknown;
    const leasing = leaseLoop().catch((error) => { leaseError = error; });
    try {
      await Promise.race([leasing, this.stopRequested.promise]);
    } finally {
      // 1. No new leases; a Lease already sent gets a moment to bring its jobs back, then is cut.
      stopping = true;
      slotFreed.resolve();
      const forced = () => this.forceRequested.promise;
      await Promise.race([leasing, sleep(this.forced ? 0 : IN_FLIGHT_LEASE_WAIT_MS)]);
      leaseAbort.abort();
      await leasing;
      // 2. Running jobs finish within the grace period (heartbeats go on).
      const running = () => [...held.values()];
      if (running().length && !this.forced) {
        this.log.info(`draining ${running().length} running jobs (up to ${s.shutdownGraceMs} ms)`);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(running().map((i) => i.done)), forced(),
          new Promise<void>((r) => { timer = setTimeout(r, s.shutdownGraceMs); })]);
        clearTimeout(timer);
      }
      // 3. What still runs is aborted and nacked with retry_after=0 for prompt redelivery.
      const rest = running();
      if (rest.length) this.log.warn(`stopping ${rest.length} unfinished jobs; they are nacked for redelivery`);
      for (const item of rest) item.ctx.abort(new Error(SHUTDOWN_ERROR));
      await Promise.all(rest.map((i) => i.done));
      // 4. Deliver every ack and nack (bounded), then stop the loops and the connection.
      await settler.close(this.forced ? 1000 : options.timeoutMs);
      heartbeater.stop();
      await beating;
      await rpc.close();
      transport.close();
      if (this.handleSignals) { process.off("SIGTERM", onSignal); process.off("SIGINT", onSignal); }
      this.running = false;
      this.log.info(`worker ${s.workerId} stopped: ${stats.succeeded} succeeded, ${stats.failed} failed, ${stats.lost} lost, ${stats.aborted} nacked at shutdown`);
    }
    if (leaseError !== undefined) throw leaseError;
  }
}
