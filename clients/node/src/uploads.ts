// How the producer uploads a large payload (the Python SDK's uploads.py): by pre-signed URL (one
// PUT, or parts and CompleteUpload for a large file) so the bytes never cross the broker, or
// streamed through the broker (UploadPayload) for producers that cannot reach the storage.
// Either way the result is the PayloadRef to enqueue (`payloadRef` in the job's options).
import { create } from "@bufbuild/protobuf";
import { isRpcFailure } from "./errors.js";
import {
  CompleteUploadRequestSchema, CreateUploadRequestSchema, JobService, UploadPayloadRequestSchema,
  type CreateUploadResponse, type UploadPayloadRequest,
} from "./gen/broker/v1/job_service_pb.js";
import type { PayloadRef as WireRef } from "./gen/broker/v1/job_pb.js";
import type { Resolved } from "./options.js";
import { callWithRetry } from "./retrying.js";
import { CHUNK, digest, fileChunks, put, Reread, UploadFailed, type Digest, type UploadSource } from "./storage.js";
import type { Transport } from "./transport.js";
import type { PayloadRef } from "./worker/payload.js";

/** Files (and bytes) over this go up in parts, each a PUT of the broker's part size. */
export const MULTIPART_OVER = 64 * 1024 * 1024;

export interface UploadOptions {
  /** Stream the bytes through the broker (UploadPayload) instead of to pre-signed URLs. */
  throughBroker?: boolean;
  /** Sizes over this (bytes) are uploaded in parts; default 64 MiB. */
  multipartOver?: number;
  /** The limit of each step: each broker call, each PUT, the UploadPayload stream. Default: the
   * client's timeoutMs for CreateUpload and CompleteUpload, none for moving the bytes. */
  timeoutMs?: number;
}

/** Throws a TypeError or RangeError for a bad source or option, before anything is read or sent. */
export function checkUpload(source: UploadSource, o: UploadOptions): void {
  if (!(source instanceof Uint8Array) && typeof source !== "string") {
    throw new TypeError("upload: source must be a Buffer, a Uint8Array or a file's path (a string)");
  }
  if (source === "") throw new RangeError("upload: the file's path is empty");
  if (o.multipartOver !== undefined && !(Number.isInteger(o.multipartOver) && o.multipartOver >= 0)) {
    throw new RangeError(`upload: multipartOver must be a whole number of bytes >= 0, got ${o.multipartOver}`);
  }
  if (o.timeoutMs !== undefined && !(o.timeoutMs > 0)) throw new RangeError(`upload: timeoutMs must be positive, got ${o.timeoutMs}`);
}

export function toRef(wire: WireRef | undefined): PayloadRef {
  if (!wire) throw new Error("the broker answered without a payload_ref");
  return { key: wire.key, size: Number(wire.size), sha256: wire.sha256 };
}

/** UploadPayload's messages, the SHA-256 declared in the first; a fresh iterable per attempt. */
export async function* streamMessages(source: UploadSource, sha256: string): AsyncGenerator<UploadPayloadRequest> {
  const chunks = typeof source === "string" ? fileChunks(source) : slices(source);
  let first = true;
  for await (const data of chunks) {
    yield create(UploadPayloadRequestSchema, { data, sha256: first ? sha256 : "" });
    first = false;
  }
  if (first) yield create(UploadPayloadRequestSchema, { sha256 }); // an empty payload
}

function* slices(bytes: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += CHUNK) yield bytes.subarray(at, at + CHUNK);
}

/** PUT the bytes to the URL(s) of a CreateUpload answer: the object, or each part in order. */
export async function putAll(upload: CreateUploadResponse, source: UploadSource, expected: Digest,
  timeoutMs?: number): Promise<void> {
  const reread = typeof source === "string" ? new Reread(source, expected) : undefined;
  const body = (start: number, length: number) =>
    reread ? reread.range(start, length) : (source as Uint8Array).subarray(start, start + length);
  const size = expected.size;
  if (upload.url) {
    await put(upload.url, upload.headers, body(0, size), size, "the object", timeoutMs);
  } else {
    const step = Number(upload.partSize), urls = upload.partUrls;
    if (!(step > 0) || urls.length !== Math.max(1, Math.ceil(size / step))) {
      throw new Error(`the broker answered ${urls.length} part URLs of ${step} bytes for ${size} bytes`);
    }
    for (const [i, url] of urls.entries()) {
      const start = i * step, length = Math.min(step, size - start);
      await put(url, { "content-type": "application/octet-stream" }, body(start, length), length,
        `part ${i + 1} of ${urls.length}`, timeoutMs);
    }
  }
  reread?.check();
}

/** Client.upload: see there. Retries as every call's (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED;
 * RESOURCE_EXHAUSTED with RetryInfo): a repeated CreateUpload or UploadPayload makes another
 * object, and one no job references expires (BROKER_S3_UPLOAD_TTL). PUTs are not retried. */
export async function upload(transport: Transport, options: Resolved, source: UploadSource,
  o: UploadOptions = {}): Promise<PayloadRef> {
  checkUpload(source, o);
  const expected = await digest(source);
  const retried = <T>(call: () => Promise<T>) => callWithRetry(call, options.retry, (ms) => transport.pause(ms));
  if (o.throughBroker) return uploadThrough(transport, source, expected, o.timeoutMs, retried);
  const callMs = o.timeoutMs ?? options.timeoutMs;
  const request = create(CreateUploadRequestSchema, {
    size: BigInt(expected.size), sha256: expected.sha256, multipart: expected.size > (o.multipartOver ?? MULTIPART_OVER),
  });
  const created = await retried(() => transport.unary(JobService.method.createUpload, request, callMs));
  await putAll(created, source, expected, o.timeoutMs);
  if (!created.url) {
    const complete = create(CompleteUploadRequestSchema, { key: created.payloadRef?.key ?? "", uploadId: created.uploadId });
    await retried(() => transport.unary(JobService.method.completeUpload, complete, callMs));
  }
  return toRef(created.payloadRef);
}

async function uploadThrough(transport: Transport, source: UploadSource, expected: Digest, timeoutMs: number | undefined,
  retried: <T>(call: () => Promise<T>) => Promise<T>): Promise<PayloadRef> {
  let local: unknown; // a failure to read the file is the caller's to see as it is
  const response = await retried(() => transport.clientStream(JobService.method.uploadPayload,
    streamMessages(source, expected.sha256), timeoutMs).catch((error) => {
    if (!isRpcFailure(error)) local = error;
    throw error;
  })).catch((error) => { throw local ?? error; });
  const ref = toRef(response.payloadRef);
  if (ref.size !== expected.size) {
    throw new UploadFailed(`the broker stored ${ref.size} bytes, not the ${expected.size} read: upload it again`);
  }
  return ref;
}
