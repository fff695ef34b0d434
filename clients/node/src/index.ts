export { Client, DEFAULT_MAX_BATCH, type ClientOptions } from "./client.js";
export {
  BrokerClientError, BrokerUnavailable, DeadlineExceeded, FailedPrecondition, InvalidRequest, LeaseRefused, NotFound,
  PermanentError, PermissionDenied, ResourceExhausted, RetryLater, Snooze, Unauthenticated, fromRpcError,
} from "./errors.js";
export { encodePayload, type EnqueueResult, type JobOptions, type JobRequest, type Payload, type RetryPolicy } from "./jobs.js";
export { DEFAULT_RETRY, resolveOptions, tlsFromFiles, type CallRetry, type ConnectionOptions, type TlsOptions } from "./options.js";
export { nextDelay, RETRYABLE, WORKER_RETRYABLE } from "./retrying.js";
export {
  encodeBadRequest, encodeRetryInfo, retryDelayFromMetadata, retryDelayFromStatus, violationsFromMetadata,
  type FieldViolation, type PreconditionViolation,
} from "./status.js";
export { UploadFailed, type UploadSource } from "./storage.js";
export { MULTIPART_OVER, type UploadOptions } from "./uploads.js";
export { otelTracing, type OtelApi, type Tracing } from "./tracing.js";
export { JobContext, LeaseLost, MAX_PROGRESS_CHARS } from "./worker/context.js";
export { PayloadMismatch, fetchPayload, savePayload, type PayloadRef } from "./worker/payload.js";
export { Outcome, type Handler } from "./worker/execution.js";
export type { Logger } from "./worker/log.js";
export { Worker, type WorkerOptions, type WorkerSettings, type WorkerStats } from "./worker/worker.js";
