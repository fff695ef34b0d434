// google.rpc.Status and google.rpc.RetryInfo, read from (and, for tests, written to) the
// `grpc-status-details-bin` trailer. Decoded by hand with protobuf-es's wire reader: two tiny
// messages are not worth vendoring googleapis' protos into the generation (docs/contract.md).
//   google.rpc.Status    { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
//   google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1; }
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { Metadata } from "@grpc/grpc-js";

export const DETAILS_KEY = "grpc-status-details-bin";
export const RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo";

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
