// The storage side of an upload (the Python SDK's payloads.digest/put/parts): the bytes' size and
// SHA-256, read in chunks, and PUTs to pre-signed URLs with Node's global fetch, a file streamed
// (`duplex: "half"`), never read whole. The URLs are secrets: no message here ever holds one.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** Bytes as they are, or a file's path (streamed). */
export type UploadSource = Uint8Array | string;

export interface Digest { size: number; sha256: string }

// Bytes per read of a file, and per UploadPayload message (well under gRPC's 4 MiB).
export const CHUNK = 1024 * 1024;

/** A PUT to the storage failed (`status`: its HTTP status; undefined when it could not be
 * reached), or a file changed between the first read (its SHA-256) and the upload. */
export class UploadFailed extends Error {
  override name = "UploadFailed";
  constructor(message: string, readonly status?: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/** A file's chunks, `start` to `start + length` (the whole file without them). */
export function fileChunks(path: string, start = 0, length?: number): AsyncIterable<Buffer> {
  const end = length === undefined ? undefined : start + length - 1;
  return createReadStream(path, { start, end, highWaterMark: CHUNK });
}

/** Size and SHA-256 hex of bytes, or of a file read in chunks (one in memory at a time). */
export async function digest(source: UploadSource): Promise<Digest> {
  if (typeof source !== "string") return { size: source.length, sha256: createHash("sha256").update(source).digest("hex") };
  const sha = createHash("sha256");
  let size = 0;
  for await (const chunk of fileChunks(source)) {
    sha.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: sha.digest("hex") };
}

/** Hashes a file's bytes again as they go out, so a file that changed after `digest` fails the
 * upload with a clear message instead of leaving other bytes than the reference declares. */
export class Reread {
  private readonly sha = createHash("sha256");
  private size = 0;
  constructor(private readonly path: string, private readonly expected: Digest) {}

  async *range(start: number, length: number): AsyncGenerator<Buffer> {
    if (length === 0) return;
    for await (const chunk of fileChunks(this.path, start, length)) {
      this.sha.update(chunk);
      this.size += chunk.length;
      yield chunk;
    }
    if (this.size !== start + length) throw this.changed();
  }

  /** Throws when the bytes sent were not the ones first read. */
  check(): void {
    if (this.size !== this.expected.size || this.sha.copy().digest("hex") !== this.expected.sha256) throw this.changed();
  }

  private changed(): UploadFailed {
    return new UploadFailed(`${this.path} changed while it was uploaded (${this.expected.size} bytes with SHA-256 ` +
      `${this.expected.sha256} when first read): upload it again`);
  }
}

/** The S3 error code of an error answer (`<Code>AccessDenied</Code>`), never the request. */
function errorCode(body: string): string {
  const code = /<Code>([^<]{1,64})<\/Code>/.exec(body)?.[1];
  return code ? ` (${code})` : "";
}

/** PUT one object or part; `what` names it in errors ("part 2 of 3"). */
export async function put(url: string, headers: Record<string, string>, body: Uint8Array | AsyncIterable<Uint8Array>,
  length: number, what: string, timeoutMs?: number): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "PUT", body, duplex: "half", headers: { ...headers, "content-length": String(length) },
      signal: timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = (error as Error).cause;
    if (cause instanceof UploadFailed) throw cause; // the file changed mid-PUT
    const reason = cause instanceof Error ? cause.message : (error as Error).message;
    throw new UploadFailed(`${what}: the storage could not be reached: ${reason}`, undefined, { cause: error });
  }
  const text = await response.text();
  if (!response.ok) throw new UploadFailed(`${what}: the storage answered ${response.status}${errorCode(text)}`, response.status);
}
