// Connection settings shared by the producer and the worker (the Python SDK's ConnectionOptions).
import { readFileSync } from "node:fs";

export const DEFAULT_TARGET = "127.0.0.1:50051";
// The broker answers pings more often than every 5 s with GOAWAY; stay well above it.
export const MIN_KEEPALIVE_MS = 10_000;

/** TLS for the channel; a client certificate and key give mutual TLS. PEM contents. */
export interface TlsOptions {
  /** CA certificates to trust; undefined: the system roots. */
  ca?: Buffer | string;
  /** Client certificate chain (mutual TLS), with `key`. */
  cert?: Buffer | string;
  key?: Buffer | string;
  /** Check the server certificate against this name instead of the target's host. */
  serverNameOverride?: string;
}

/** TlsOptions from PEM files (each path optional). */
export function tlsFromFiles(paths: { ca?: string; cert?: string; key?: string; serverNameOverride?: string }): TlsOptions {
  const read = (p?: string) => (p ? readFileSync(p) : undefined);
  return { ca: read(paths.ca), cert: read(paths.cert), key: read(paths.key), serverNameOverride: paths.serverNameOverride };
}

/** How a producer retries one logical call. Backoff before retry n (1-based):
 * min(maxBackoffMs, initialBackoffMs * multiplier^(n-1)) with equal jitter. */
export interface CallRetry {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  multiplier: number;
  /** A server's RetryInfo hint is honoured up to this long. */
  maxRetryInfoDelayMs: number;
}

export const DEFAULT_RETRY: CallRetry = Object.freeze({
  maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 5000, multiplier: 2, maxRetryInfoDelayMs: 60_000,
});

export interface ConnectionOptions {
  /** host:port of the broker (default 127.0.0.1:50051). */
  target?: string;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** TLS, or mutual TLS with a client certificate; undefined: plaintext. */
  tls?: TlsOptions;
  /** Deadline of every call (a long-poll Lease gets its wait on top). Default 10 s. */
  timeoutMs?: number;
  retry?: Partial<CallRetry>;
  /** HTTP/2 keepalive pings, also between calls; at least 10 s. Defaults 10 s and 5 s. */
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** While the broker is away the channel tries to connect at least this often. Default 1 s. */
  maxReconnectBackoffMs?: number;
  /** Default 64 MiB: room for a Lease of many large payloads. */
  maxReceiveMessageLength?: number;
  /** Extra metadata on every call. */
  metadata?: Record<string, string>;
  /** Extra grpc-js channel options. */
  channelOptions?: Record<string, string | number>;
}

export interface Resolved {
  target: string;
  token?: string;
  tls?: TlsOptions;
  timeoutMs: number;
  retry: CallRetry;
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  maxReconnectBackoffMs: number;
  maxReceiveMessageLength: number;
  metadata: Record<string, string>;
  channelOptions: Record<string, string | number>;
}

/** The options with their defaults, checked: a bad value throws a RangeError naming it. */
export function resolveOptions(o: ConnectionOptions = {}): Resolved {
  const r: Resolved = {
    target: o.target ?? DEFAULT_TARGET,
    token: o.token,
    tls: o.tls,
    timeoutMs: o.timeoutMs ?? 10_000,
    retry: { ...DEFAULT_RETRY, ...(o.retry ?? {}) },
    keepaliveTimeMs: o.keepaliveTimeMs ?? 10_000,
    keepaliveTimeoutMs: o.keepaliveTimeoutMs ?? 5_000,
    maxReconnectBackoffMs: o.maxReconnectBackoffMs ?? 1_000,
    maxReceiveMessageLength: o.maxReceiveMessageLength ?? 64 * 1024 * 1024,
    metadata: { ...(o.metadata ?? {}) },
    channelOptions: { ...(o.channelOptions ?? {}) },
  };
  if (!r.target) throw new RangeError("target must be 'host:port'");
  if (!(r.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${r.timeoutMs}`);
  if (!(r.keepaliveTimeMs >= MIN_KEEPALIVE_MS)) {
    throw new RangeError(`keepaliveTimeMs must be at least ${MIN_KEEPALIVE_MS} (the broker allows no more pings), got ${r.keepaliveTimeMs}`);
  }
  if (!(r.keepaliveTimeoutMs > 0)) throw new RangeError(`keepaliveTimeoutMs must be positive, got ${r.keepaliveTimeoutMs}`);
  if (!(r.maxReconnectBackoffMs >= 100)) throw new RangeError(`maxReconnectBackoffMs must be at least 100, got ${r.maxReconnectBackoffMs}`);
  const p = r.retry;
  if (!(Number.isInteger(p.maxAttempts) && p.maxAttempts >= 1)) throw new RangeError(`retry.maxAttempts must be a whole number >= 1, got ${p.maxAttempts}`);
  if (!(p.initialBackoffMs >= 0 && p.maxBackoffMs >= p.initialBackoffMs)) throw new RangeError("retry: need 0 <= initialBackoffMs <= maxBackoffMs");
  if (!(p.multiplier >= 1)) throw new RangeError(`retry.multiplier must be at least 1, got ${p.multiplier}`);
  if (r.tls && (r.tls.cert === undefined) !== (r.tls.key === undefined)) {
    throw new RangeError("tls: cert and key go together (mutual TLS needs both)");
  }
  return r;
}
