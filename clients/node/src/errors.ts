// One error tree for every call, translated from gRPC status codes in one table (as the
// Python SDK's broker_client.errors). The gRPC error is the `cause`.
import { status } from "@grpc/grpc-js";
import { violationsFromMetadata, type FieldViolation, type PreconditionViolation } from "./status.js";

/** The root: any failed call. `code` is the gRPC status code, `details` the broker's message;
 * `fieldViolations` (INVALID_ARGUMENT) and `preconditionViolations` (FAILED_PRECONDITION) are the
 * rich status details the broker sends, so a caller acts on fields, not on the message. */
export class BrokerClientError extends Error {
  override name = "BrokerClientError";
  fieldViolations: FieldViolation[] = [];
  preconditionViolations: PreconditionViolation[] = [];
  constructor(message: string, readonly code: number = status.UNKNOWN, readonly details = "", options?: ErrorOptions) {
    super(message, options);
  }
}
export class BrokerUnavailable extends BrokerClientError { override name = "BrokerUnavailable"; }
export class DeadlineExceeded extends BrokerClientError { override name = "DeadlineExceeded"; }
export class InvalidRequest extends BrokerClientError { override name = "InvalidRequest"; }
export class NotFound extends BrokerClientError { override name = "NotFound"; }
export class FailedPrecondition extends BrokerClientError { override name = "FailedPrecondition"; }
export class ResourceExhausted extends BrokerClientError { override name = "ResourceExhausted"; }
export class Unauthenticated extends BrokerClientError { override name = "Unauthenticated"; }
export class PermissionDenied extends BrokerClientError { override name = "PermissionDenied"; }

/** The worker stops: the broker refused to lease for a reason retrying cannot fix. */
export class LeaseRefused extends BrokerClientError { override name = "LeaseRefused"; }

const BY_CODE: Record<number, typeof BrokerClientError> = {
  [status.UNAVAILABLE]: BrokerUnavailable,
  [status.DEADLINE_EXCEEDED]: DeadlineExceeded,
  [status.INVALID_ARGUMENT]: InvalidRequest,
  [status.OUT_OF_RANGE]: InvalidRequest,
  [status.NOT_FOUND]: NotFound,
  [status.FAILED_PRECONDITION]: FailedPrecondition,
  [status.RESOURCE_EXHAUSTED]: ResourceExhausted,
  [status.UNAUTHENTICATED]: Unauthenticated,
  [status.PERMISSION_DENIED]: PermissionDenied,
};

/** What a failed call carries: grpc-js's ServiceError, or a session call's failure. */
export interface RpcFailure extends Error { code: number; details: string; metadata?: import("@grpc/grpc-js").Metadata; retryDelayMs?: number }

export function isRpcFailure(error: unknown): error is RpcFailure {
  return error instanceof Error && typeof (error as RpcFailure).code === "number";
}

export function codeName(code: number): string {
  return status[code] ?? `CODE_${code}`;
}

/** The SDK error for a failed call. */
export function fromRpcError(error: unknown): BrokerClientError {
  if (error instanceof BrokerClientError) return error;
  if (!isRpcFailure(error)) return new BrokerClientError(String(error), status.UNKNOWN, String(error), { cause: error });
  const Kind = BY_CODE[error.code] ?? BrokerClientError;
  const made = new Kind(`${codeName(error.code)}: ${error.details}`, error.code, error.details, { cause: error });
  Object.assign(made, violationsFromMetadata(error.metadata));
  return made;
}

/** Thrown by a handler: the job goes straight to the dead letter queue, no more attempts. */
export class PermanentError extends Error { override name = "PermanentError"; }

/** Thrown or returned by a handler: hand the job back to run again in `delayMs` without using an
 * attempt (the broker gives the lease's attempt back; `Job.snoozes` counts them). For "not now";
 * a failure is a thrown error or RetryLater. The broker bounds the delay (30 days by default). */
export class Snooze extends Error {
  override name = "Snooze";
  constructor(readonly delayMs = 0) {
    super(`snoozed for ${delayMs / 1000} s`);
    if (!(delayMs >= 0)) throw new RangeError(`Snooze: delayMs must be >= 0, got ${delayMs}`);
  }
}

/** Thrown by a handler: fail this attempt and retry after `delayMs` instead of the backoff. */
export class RetryLater extends Error {
  override name = "RetryLater";
  constructor(readonly delayMs: number, message?: string) {
    super(message ?? `retry in ${delayMs / 1000} s`);
    if (!(delayMs >= 0)) throw new RangeError(`RetryLater: delayMs must be >= 0, got ${delayMs}`);
  }
}
