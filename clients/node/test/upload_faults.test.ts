// client.upload against a scripted fake broker and a loopback HTTP server standing in for the
// storage: CreateUpload and UploadPayload retried (the stream sent again from the start), what a
// PUT carries, and a storage refusal reported without the secret URL and not retried.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { status, type ServerReadableStream } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  CreateUploadResponseSchema, JobService, UploadPayloadResponseSchema, type CreateUploadRequest, type UploadPayloadRequest,
} from "../src/gen/broker/v1/job_service_pb.js";
import { PayloadRefSchema } from "../src/gen/broker/v1/job_pb.js";
import { Client } from "../src/client.js";
import { InvalidRequest } from "../src/errors.js";
import { UploadFailed } from "../src/storage.js";
import { fakeServer, grpcError } from "./helpers.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const fast = { initialBackoffMs: 1, maxBackoffMs: 2 };

/** A loopback HTTP server recording each PUT; it answers `answer` (status, body). */
async function storage(answer: [number, string] = [200, ""]) {
  const puts: { url: string; headers: IncomingHttpHeaders; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      puts.push({ url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(answer[0]).end(answer[1]);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return { puts, base: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

test("CreateUpload is retried on UNAVAILABLE; the PUT carries the bytes, the headers and Content-Length", async () => {
  const store = await storage();
  const seen: CreateUploadRequest[] = [];
  const createUpload = (call: { request: CreateUploadRequest }, cb: (e: unknown, r?: unknown) => void) => {
    seen.push(call.request);
    if (seen.length === 1) return cb(grpcError(status.UNAVAILABLE, "restarting"));
    const ref = create(PayloadRefSchema, { key: `k${seen.length}`, size: call.request.size, sha256: call.request.sha256 });
    cb(null, create(CreateUploadResponseSchema, { payloadRef: ref, url: `${store.base}/obj?X-Amz-Signature=secret`,
      headers: { "content-type": "application/octet-stream" } }));
  };
  const server = await fakeServer(JobService, { CreateUpload: createUpload as never });
  const client = new Client({ target: server.address, retry: fast });
  try {
    const data = randomBytes(70_000);
    const ref = await client.upload(data);
    assert.deepEqual(ref, { key: "k2", size: data.length, sha256: sha(data) });
    assert.deepEqual(seen.map((r) => [Number(r.size), r.sha256, r.multipart]), [[data.length, sha(data), false], [data.length, sha(data), false]]);
    assert.equal(store.puts.length, 1);
    const [put] = store.puts;
    assert.deepEqual([put!.headers["content-length"], put!.headers["content-type"], put!.headers["transfer-encoding"]],
      [String(data.length), "application/octet-stream", undefined]);
    assert.ok(put!.body.equals(data));
  } finally {
    client.close();
    await server.close();
    await store.close();
  }
});

test("a storage refusal is an UploadFailed with its status and S3 code, never the URL, and is not retried", async () => {
  const store = await storage([403, "<Error><Code>AccessDenied</Code><Message>no</Message></Error>"]);
  let calls = 0;
  const createUpload = (call: { request: CreateUploadRequest }, cb: (e: unknown, r?: unknown) => void) => {
    calls += 1;
    const ref = create(PayloadRefSchema, { key: "k", size: call.request.size, sha256: call.request.sha256 });
    cb(null, create(CreateUploadResponseSchema, { payloadRef: ref, uploadId: "u", partSize: 4n,
      partUrls: [1, 2, 3].map((n) => `${store.base}/part${n}?X-Amz-Signature=secret`) }));
  };
  const server = await fakeServer(JobService, { CreateUpload: createUpload as never });
  const client = new Client({ target: server.address, retry: fast });
  try {
    await assert.rejects(client.upload(new Uint8Array(10), { multipartOver: 4 }), (e: UploadFailed) =>
      e instanceof UploadFailed && e.status === 403 && e.message === "part 1 of 3: the storage answered 403 (AccessDenied)");
    assert.deepEqual([calls, store.puts.length], [1, 1]);
  } finally {
    client.close();
    await server.close();
    await store.close();
  }
});

test("UploadPayload is retried from the start, in 1 MiB messages with the SHA-256 in the first; its errors map", async () => {
  const attempts: UploadPayloadRequest[][] = [];
  const uploadPayload = (call: ServerReadableStream<UploadPayloadRequest, unknown>, cb: (e: unknown, r?: unknown) => void) => {
    const got: UploadPayloadRequest[] = [];
    attempts.push(got);
    call.on("data", (m: UploadPayloadRequest) => got.push(m));
    call.on("end", () => {
      if (attempts.length === 1) return cb(grpcError(status.UNAVAILABLE, "restarting"));
      const data = Buffer.concat(got.map((m) => m.data));
      if (attempts.length === 3) return cb(grpcError(status.INVALID_ARGUMENT, "sha256: the bytes' SHA-256 is other"));
      cb(null, create(UploadPayloadResponseSchema, {
        payloadRef: create(PayloadRefSchema, { key: "s", size: BigInt(data.length), sha256: sha(data) }) }));
    });
  };
  const server = await fakeServer(JobService, { UploadPayload: uploadPayload as never });
  const client = new Client({ target: server.address, retry: fast });
  try {
    const data = randomBytes(2 * 1024 * 1024 + 5);
    const ref = await client.upload(data, { throughBroker: true });
    assert.deepEqual(ref, { key: "s", size: data.length, sha256: sha(data) });
    assert.equal(attempts.length, 2);
    for (const sent of attempts) {
      assert.deepEqual(sent.map((m) => m.data.length), [1024 * 1024, 1024 * 1024, 5]);
      assert.deepEqual(sent.map((m) => m.sha256), [sha(data), "", ""]);
    }
    await assert.rejects(client.upload(data, { throughBroker: true }), (e: InvalidRequest) =>
      e instanceof InvalidRequest && e.details.startsWith("sha256"));
    assert.equal(attempts.length, 3, "INVALID_ARGUMENT is not retried");
  } finally {
    client.close();
    await server.close();
  }
});
