// Large payloads: a job whose payload is an object in the broker's storage carries a pre-signed
// GET URL; these fetch it, streaming, and check its size and SHA-256. The URL is a secret.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";

/** A payload kept as an object: what the job holds instead of the bytes. */
export interface PayloadRef { key: string; size: number; sha256: string }

/** The object's bytes differ from what the job's reference declares. */
export class PayloadMismatch extends Error { override name = "PayloadMismatch"; }

/** Payloads kept as objects up to this size are fetched before the handler runs. */
export const PREFETCH_PAYLOAD_BYTES = 8 * 1024 * 1024;

/** Stream the object to `sink` (chunk by chunk), checking it against `ref`. */
async function stream(url: string, ref: PayloadRef, sink: (chunk: Uint8Array) => void | Promise<void>,
  signal?: AbortSignal): Promise<void> {
  const response = await fetch(url, { signal });
  if (!response.ok || !response.body) throw new Error(`payload ${ref.key}: storage answered ${response.status}`);
  const sha = createHash("sha256");
  let size = 0;
  for await (const chunk of response.body) {
    sha.update(chunk);
    size += chunk.length;
    await sink(chunk);
  }
  const digest = sha.digest("hex");
  if (size !== ref.size || digest !== ref.sha256) {
    throw new PayloadMismatch(`payload ${ref.key}: got ${size} bytes with SHA-256 ${digest}, ` +
      `expected ${ref.size} bytes with ${ref.sha256}`);
  }
}

/** The whole object in memory, checked. */
export async function fetchPayload(url: string, ref: PayloadRef, signal?: AbortSignal): Promise<Uint8Array> {
  const out = new Uint8Array(ref.size);
  let at = 0;
  await stream(url, ref, (chunk) => {
    if (at + chunk.length > out.length) throw new PayloadMismatch(`payload ${ref.key}: more than ${ref.size} bytes`);
    out.set(chunk, at);
    at += chunk.length;
  }, signal);
  return out;
}

/** The object streamed to `path`, which appears only once the bytes checked out. */
export async function savePayload(url: string, ref: PayloadRef, path: string, signal?: AbortSignal): Promise<string> {
  const partial = `${path}.part`;
  const file = createWriteStream(partial);
  try {
    await stream(url, ref, (chunk) => new Promise<void>((resolve, reject) =>
      file.write(chunk, (err) => (err ? reject(err) : resolve()))), signal);
    await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
    await rename(partial, path);
    return path;
  } finally {
    file.destroy();
    await rm(partial, { force: true });
  }
}
