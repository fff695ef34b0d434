// The producer: enqueue and batch enqueue, idempotency keys by default, retries that honour
// RetryInfo (the Python SDK's Client).
import { create } from "@bufbuild/protobuf";
import { EnqueueBatchRequestSchema, EnqueueRequestSchema, JobService } from "./gen/broker/v1/job_service_pb.js";
import { keyed, toSpec, type EnqueueResult, type JobOptions, type JobRequest, type Payload } from "./jobs.js";
import { resolveOptions, type ConnectionOptions, type Resolved } from "./options.js";
import { callWithRetry } from "./retrying.js";
import { withContext, type Tracing } from "./tracing.js";
import { Transport } from "./transport.js";
import type { UploadSource } from "./storage.js";
import { upload, type UploadOptions } from "./uploads.js";
import type { PayloadRef } from "./worker/payload.js";

// The broker's default limit (BROKER_MAX_BATCH); a broker with a lower one needs its value.
export const DEFAULT_MAX_BATCH = 1000;

export interface ClientOptions extends ConnectionOptions {
  /** Jobs per EnqueueBatch call (bigger inputs are split). Default 1,000. */
  maxBatch?: number;
  /** Trace context into the jobs' headers: `otelTracing(await import("@opentelemetry/api"))`. */
  tracing?: Tracing;
}

export class Client {
  readonly options: Resolved;
  readonly maxBatch: number;
  private readonly transport: Transport;
  private readonly tracing: Tracing | undefined;

  constructor(options: ClientOptions = {}) {
    this.options = resolveOptions(options);
    this.tracing = options.tracing;
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    if (!(Number.isInteger(this.maxBatch) && this.maxBatch >= 1)) {
      throw new RangeError(`maxBatch must be a whole number of at least 1, got ${options.maxBatch}`);
    }
    this.transport = new Transport(this.options);
  }

  /** Adds one job. Retried on UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED and (with RetryInfo)
   * RESOURCE_EXHAUSTED with the same idempotency key: one job, never two. */
  async enqueue(queue: string, kind: string, payload?: Payload, options: JobOptions = {}): Promise<EnqueueResult> {
    if (this.tracing) {
      return this.tracing.enqueue(queue, 1, (inject) => this.enqueueOne(queue, kind, payload,
        { ...options, headers: withContext(options.headers, inject) }));
    }
    return this.enqueueOne(queue, kind, payload, options);
  }

  private async enqueueOne(queue: string, kind: string, payload: Payload | undefined, options: JobOptions): Promise<EnqueueResult> {
    const job = keyed({ ...options, queue, kind, payload });
    const request = create(EnqueueRequestSchema, { job: toSpec(job) });
    const response = await callWithRetry(
      () => this.transport.unary(JobService.method.enqueue, request, this.options.timeoutMs), this.options.retry,
      (ms) => this.transport.pause(ms));
    return { jobId: response.jobId, created: response.created, idempotencyKey: job.idempotencyKey };
  }

  /** Adds many jobs, `maxBatch` per call (each call atomic on the broker); one result per job, in order. */
  async enqueueBatch(jobs: readonly JobRequest[]): Promise<EnqueueResult[]> {
    if (this.tracing) {
      const queues = new Set(jobs.map((j) => j.queue));
      return this.tracing.enqueue(queues.size === 1 ? jobs[0]!.queue : "", jobs.length, (inject) =>
        this.enqueueMany(jobs.map((j) => ({ ...j, headers: withContext(j.headers, inject) }))));
    }
    return this.enqueueMany(jobs);
  }

  private async enqueueMany(jobs: readonly JobRequest[]): Promise<EnqueueResult[]> {
    const all = jobs.map(keyed);
    const now = Date.now();
    const results: EnqueueResult[] = [];
    for (let start = 0; start < all.length; start += this.maxBatch) {
      const chunk = all.slice(start, start + this.maxBatch);
      const request = create(EnqueueBatchRequestSchema, { jobs: chunk.map((j) => toSpec(j, now)) });
      const response = await callWithRetry(
        () => this.transport.unary(JobService.method.enqueueBatch, request, this.options.timeoutMs),
        this.options.retry, (ms) => this.transport.pause(ms));
      if (response.results.length !== chunk.length) {
        throw new Error(`broker answered ${response.results.length} results for ${chunk.length} jobs`);
      }
      response.results.forEach((r, i) => results.push({ jobId: r.jobId, created: r.created, idempotencyKey: chunk[i]!.idempotencyKey }));
    }
    return results;
  }

  /** Puts a large payload (bytes, or a file's path: read in chunks, never whole) into the broker's
   * object storage and returns the reference to enqueue (`{ payloadRef }` in the job's options).
   * The bytes go to a pre-signed URL (in parts over `multipartOver`, 64 MiB) without crossing the
   * broker, or with `throughBroker` stream through it (UploadPayload). Needs the producer role. */
  upload(source: UploadSource, options: UploadOptions = {}): Promise<PayloadRef> {
    return upload(this.transport, this.options, source, options);
  }

  close(): void {
    this.transport.close();
  }

}
