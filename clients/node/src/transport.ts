// A small hand-written grpc-js transport over the generated protobuf-es message types: protobuf-es
// v2 has no grpc-js service generator, so calls are made by path with toBinary/fromBinary.
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMessage, type DescMethod, type MessageShape } from "@bufbuild/protobuf";
import type { Resolved } from "./options.js";

const INITIAL_RECONNECT_MS = 200;

function channelOptions(o: Resolved): grpc.ChannelOptions {
  const opts: grpc.ChannelOptions = {
    "grpc.keepalive_time_ms": o.keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": o.keepaliveTimeoutMs,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.initial_reconnect_backoff_ms": Math.min(o.maxReconnectBackoffMs, INITIAL_RECONNECT_MS),
    "grpc.max_reconnect_backoff_ms": o.maxReconnectBackoffMs,
    "grpc.max_receive_message_length": o.maxReceiveMessageLength,
  };
  if (o.tls?.serverNameOverride) {
    opts["grpc.ssl_target_name_override"] = o.tls.serverNameOverride;
    opts["grpc.default_authority"] = o.tls.serverNameOverride;
  }
  return { ...opts, ...o.channelOptions };
}

function credentials(o: Resolved): grpc.ChannelCredentials {
  if (!o.tls) return grpc.credentials.createInsecure();
  const buf = (v?: Buffer | string) => (v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v));
  return grpc.credentials.createSsl(buf(o.tls.ca), buf(o.tls.key), buf(o.tls.cert));
}

function path(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

export type UnaryMethod<I extends DescMessage, O extends DescMessage> = DescMethod & { input: I; output: O };

export class Transport {
  readonly client: grpc.Client;
  private closed = false;

  constructor(readonly options: Resolved) {
    this.client = new grpc.Client(options.target, credentials(options), channelOptions(options));
  }

  metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.options.token) md.set("authorization", `Bearer ${this.options.token}`);
    for (const [k, v] of Object.entries(this.options.metadata)) md.set(k, v);
    return md;
  }

  /** One unary call; rejects with grpc-js's ServiceError. `signal` cancels it (CANCELLED). */
  unary<I extends DescMessage, O extends DescMessage>(method: UnaryMethod<I, O>, request: MessageShape<I>,
    timeoutMs: number, signal?: AbortSignal): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      const call = this.client.makeUnaryRequest<MessageShape<I>, MessageShape<O>>(
        path(method), (m) => Buffer.from(toBinary(method.input, m)), (b) => fromBinary(method.output, b),
        request, this.metadata(), { deadline: Date.now() + timeoutMs },
        (error, value) => {
          signal?.removeEventListener("abort", cancel);
          if (error) reject(error);
          else resolve(value as MessageShape<O>);
        });
      const cancel = () => call.cancel();
      if (signal?.aborted) call.cancel();
      else signal?.addEventListener("abort", cancel, { once: true });
    });
  }

  /** A client-streaming call fed from `messages` (respecting the stream's flow control); no
   * deadline unless `timeoutMs`. A failure to produce a message cancels the call and rejects with it. */
  clientStream<I extends DescMessage, O extends DescMessage>(method: UnaryMethod<I, O>,
    messages: AsyncIterable<MessageShape<I>>, timeoutMs?: number): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const call = this.client.makeClientStreamRequest<MessageShape<I>, MessageShape<O>>(
        path(method), (m) => Buffer.from(toBinary(method.input, m)), (b) => fromBinary(method.output, b),
        this.metadata(), timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs },
        (error, value) => {
          settled = true;
          call.emit("drain"); // a writer waiting for room stops
          if (error) reject(error);
          else resolve(value as MessageShape<O>);
        });
      (async () => {
        for await (const message of messages) {
          if (settled) return;
          if (!call.write(message)) await new Promise((room) => call.once("drain", room));
        }
        if (!settled) call.end();
      })().catch((error) => { reject(error); call.cancel(); });
    });
  }

  /** A bidirectional stream (no deadline: it lives as long as the worker). */
  bidi<I extends DescMessage, O extends DescMessage>(method: UnaryMethod<I, O>):
    grpc.ClientDuplexStream<MessageShape<I>, MessageShape<O>> {
    return this.client.makeBidiStreamRequest<MessageShape<I>, MessageShape<O>>(
      path(method), (m) => Buffer.from(toBinary(method.input, m)), (b) => fromBinary(method.output, b),
      this.metadata(), {});
  }

  /** Wait `ms`, or less when the channel connects again after an outage (a retry then goes at once). */
  pause(ms: number): Promise<void> {
    const channel = this.client.getChannel();
    const start = channel.getConnectivityState(true);
    return new Promise((resolve) => {
      const deadline = Date.now() + ms;
      const timer = setTimeout(resolve, ms);
      if (start === grpc.connectivityState.READY || this.closed) return;
      const watch = (state: grpc.connectivityState) => {
        if (this.closed || Date.now() >= deadline) return;
        try {
          channel.watchConnectivityState(state, deadline, (error) => {
            if (error) return;
            const now = channel.getConnectivityState(true);
            if (now === grpc.connectivityState.READY) { clearTimeout(timer); resolve(); } else watch(now);
          });
        } catch { /* the channel was closed */ }
      };
      watch(start);
    });
  }

  close(): void {
    this.closed = true;
    this.client.close();
  }
}
