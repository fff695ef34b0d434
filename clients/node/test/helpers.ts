// Test helpers: a fake broker on loopback made of grpc-js handlers (to script faults), admin
// calls for checking a real broker, and waiting for a condition.
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { AdminService, CancelJobRequestSchema, GetJobRequestSchema } from "../src/gen/broker/v1/admin_service_pb.js";
import type { Job, JobEvent } from "../src/gen/broker/v1/job_pb.js";
import { resolveOptions, type ConnectionOptions } from "../src/options.js";
import { Transport } from "../src/transport.js";

export type Impl = Record<string, grpc.UntypedHandleCall>;

/** A grpc-js server on 127.0.0.1:0 serving `impl` (by method name, e.g. "Enqueue") of `service`. */
export async function fakeServer(service: DescService, impl: Impl): Promise<{ address: string; close: () => Promise<void> }> {
  const server = new grpc.Server();
  const definition: Record<string, grpc.MethodDefinition<any, any>> = {}; // eslint-disable-line @typescript-eslint/no-explicit-any
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (!(method.name in impl)) continue;
    const input = method.input as DescMessage, output = method.output as DescMessage;
    definition[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: (m: any) => Buffer.from(toBinary(input, m)),
      requestDeserialize: (b: Buffer) => fromBinary(input, b),
      responseSerialize: (m: any) => Buffer.from(toBinary(output, m)),
      responseDeserialize: (b: Buffer) => fromBinary(output, b),
    };
    handlers[method.name] = impl[method.name]!;
  }
  server.addService(definition as grpc.ServiceDefinition, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    address: `127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

export function grpcError(code: number, details: string, metadata?: grpc.Metadata): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: metadata ?? new grpc.Metadata() });
}

/** AdminService calls against a real broker, to check what the SDK did. */
export class Admin {
  private readonly transport: Transport;
  constructor(options: ConnectionOptions) { this.transport = new Transport(resolveOptions(options)); }
  async job(id: string): Promise<Job> {
    return (await this.transport.unary(AdminService.method.getJob, create(GetJobRequestSchema, { jobId: id }), 10_000)).job!;
  }
  async events(id: string): Promise<JobEvent[]> {
    return (await this.transport.unary(AdminService.method.getJob, create(GetJobRequestSchema, { jobId: id }), 10_000)).events;
  }
  async cancel(id: string): Promise<void> {
    await this.transport.unary(AdminService.method.cancelJob, create(CancelJobRequestSchema, { jobId: id }), 10_000);
  }
  close(): void { this.transport.close(); }
}

export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const quiet = { info() {}, warn() {}, error() {} };
export const uniqueQueue = (prefix = "node") => `${prefix}-${Math.random().toString(16).slice(2, 12)}`;
