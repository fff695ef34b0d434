// google.rpc.Status with RetryInfo, BadRequest and PreconditionFailure, read from (and, for tests, written to) the
// `grpc-status-details-bin` trailer. Decoded by hand with protobuf-es's wire reader: two tiny
// messages are not worth vendoring googleapis' protos into the generation (docs/contract.md).
//   google.rpc.Status    { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
//   google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1; }
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { Metadata } from "@grpc/grpc-js";

export const DETAILS_KEY = "grpc-status-details-bin";
export const RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo";
export const BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest";
export const PRECONDITION_FAILURE_TYPE = "type.googleapis.com/google.rpc.PreconditionFailure";

/** google.rpc.BadRequest.FieldViolation: the field at fault (`jobs[3].queue`) and what is wrong. */
export interface FieldViolation { field: string; description: string }
/** google.rpc.PreconditionFailure.Violation: e.g. type JOB_STATE, subject `jobs/<id>`. */
export interface PreconditionViolation { type: string; subject: string; description: string }

interface AnyDetail { typeUrl: string; value: Uint8Array }

function readAny(bytes: Uint8Array): AnyDetail {
  const r = new BinaryReader(bytes);
  const any: AnyDetail = { typeUrl: "", value: new Uint8Array() };
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) any.typeUrl = r.string();
    else if (no === 2 && wt === WireType.LengthDelimited) any.value = r.bytes();
    else r.skip(wt);
  }
  return any;
}

function readDurationMs(bytes: Uint8Array): number {
  const r = new BinaryReader(bytes);
  let seconds = 0, nanos = 0;
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.Varint) seconds = Number(r.int64());
    else if (no === 2 && wt === WireType.Varint) nanos = r.int32();
    else r.skip(wt);
  }
  return seconds * 1000 + nanos / 1e6;
}

/** The RetryInfo delay (ms) in a serialized google.rpc.Status, or undefined. Never throws. */
export function retryDelayFromStatus(bytes: Uint8Array): number | undefined {
  try {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      if (no !== 3 || wt !== WireType.LengthDelimited) { r.skip(wt); continue; }
      const detail = readAny(r.bytes());
      if (detail.typeUrl !== RETRY_INFO_TYPE) continue;
      const info = new BinaryReader(detail.value);
      while (info.pos < info.len) {
        const [fno, fwt] = info.tag();
        if (fno === 1 && fwt === WireType.LengthDelimited) return Math.max(0, readDurationMs(info.bytes()));
        info.skip(fwt);
      }
      return 0;
    }
  } catch {
    // a malformed trailer is no reason to fail the caller
  }
  return undefined;
}

/** The strings of each repeated message field `outer` of `bytes`, by their field numbers. */
function readRepeated(bytes: Uint8Array, outer: number, fields: number): string[][] {
  const found: string[][] = [];
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no !== outer || wt !== WireType.LengthDelimited) { r.skip(wt); continue; }
    const item = new BinaryReader(r.bytes());
    const values: string[] = new Array(fields).fill("");
    while (item.pos < item.len) {
      const [fno, fwt] = item.tag();
      if (fno >= 1 && fno <= fields && fwt === WireType.LengthDelimited) values[fno - 1] = item.string();
      else item.skip(fwt);
    }
    found.push(values);
  }
  return found;
}

/** The BadRequest and PreconditionFailure details of a call's trailers (empty when none). Never throws. */
export function violationsFromMetadata(metadata: Metadata | undefined):
    { fieldViolations: FieldViolation[]; preconditionViolations: PreconditionViolation[] } {
  const out = { fieldViolations: [] as FieldViolation[], preconditionViolations: [] as PreconditionViolation[] };
  for (const value of metadata?.get(DETAILS_KEY) ?? []) {
    if (typeof value === "string") continue;
    try {
      const r = new BinaryReader(value);
      while (r.pos < r.len) {
        const [no, wt] = r.tag();
        if (no !== 3 || wt !== WireType.LengthDelimited) { r.skip(wt); continue; }
        const detail = readAny(r.bytes());
        if (detail.typeUrl === BAD_REQUEST_TYPE) {
          for (const [field, description] of readRepeated(detail.value, 1, 2)) out.fieldViolations.push({ field, description });
        } else if (detail.typeUrl === PRECONDITION_FAILURE_TYPE) {
          for (const [type, subject, description] of readRepeated(detail.value, 1, 3)) {
            out.preconditionViolations.push({ type, subject, description });
          }
        }
      }
    } catch {
      // a malformed trailer is no reason to fail the caller
    }
  }
  return out;
}

/** A serialized google.rpc.Status carrying one BadRequest field violation (for tests and fakes). */
export function encodeBadRequest(field: string, description: string, code = 3, message = ""): Uint8Array {
  const violation = new BinaryWriter().tag(1, WireType.LengthDelimited).string(field)
    .tag(2, WireType.LengthDelimited).string(description).finish();
  const bad = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(violation).finish();
  const any = new BinaryWriter().tag(1, WireType.LengthDelimited).string(BAD_REQUEST_TYPE)
    .tag(2, WireType.LengthDelimited).bytes(bad).finish();
  return new BinaryWriter().tag(1, WireType.Varint).int32(code).tag(2, WireType.LengthDelimited).string(message)
    .tag(3, WireType.LengthDelimited).bytes(any).finish();
}

/** The server's RetryInfo hint (ms) in a call's trailers, or undefined when it gave none. */
export function retryDelayFromMetadata(metadata: Metadata | undefined): number | undefined {
  for (const value of metadata?.get(DETAILS_KEY) ?? []) {
    if (typeof value === "string") continue;
    const delay = retryDelayFromStatus(value);
    if (delay !== undefined) return delay;
  }
  return undefined;
}

/** A serialized google.rpc.Status carrying RetryInfo (for tests and fakes). */
export function encodeRetryInfo(delayMs: number, code = 8, message = ""): Uint8Array {
  const seconds = Math.floor(delayMs / 1000);
  const nanos = Math.round((delayMs - seconds * 1000) * 1e6);
  const duration = new BinaryWriter().tag(1, WireType.Varint).int64(seconds).tag(2, WireType.Varint).int32(nanos).finish();
  const info = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(duration).finish();
  const any = new BinaryWriter().tag(1, WireType.LengthDelimited).string(RETRY_INFO_TYPE)
    .tag(2, WireType.LengthDelimited).bytes(info).finish();
  return new BinaryWriter().tag(1, WireType.Varint).int32(code).tag(2, WireType.LengthDelimited).string(message)
    .tag(3, WireType.LengthDelimited).bytes(any).finish();
}
