// client.upload against a real broker with object storage (BROKER_ADDR; tests/e2e/test_node_sdk.py
// starts it on a moto S3 server with 5 MiB parts): bytes, a file in one PUT, a file in parts, a file
// and bytes through the broker; each enqueued by its reference and read back by a Node worker.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { Client } from "../src/client.js";
import { InvalidRequest } from "../src/errors.js";
import { UploadFailed } from "../src/storage.js";
import type { UploadOptions } from "../src/uploads.js";
import { Worker } from "../src/worker/worker.js";
import { eventually, quiet, uniqueQueue } from "./helpers.js";

const target = process.env.BROKER_ADDR;
const skip = target ? false : "BROKER_ADDR is not set (tests/e2e/test_node_sdk.py sets it)";
const MIB = 1024 * 1024;
const PART = 5 * MIB; // the broker's BROKER_S3_PART_SIZE in tests/e2e/test_node_sdk.py

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Records the content-length of every PUT the SDK sends (through the global fetch); `before`
 * runs just before each goes out. */
function spyPuts(before?: () => void): { puts: number[]; restore: () => void } {
  const real = globalThis.fetch;
  const puts: number[] = [];
  globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    if (init?.method === "PUT") {
      puts.push(Number((init.headers as Record<string, string>)["content-length"]));
      before?.();
    }
    return real(input, init);
  }) as typeof fetch;
  return { puts, restore: () => { globalThis.fetch = real; } };
}

function tempFile(name: string, bytes: Uint8Array): string {
  const path = `${mkdtempSync(`${tmpdir()}/node-upload-`)}/${name}`;
  writeFileSync(path, bytes);
  return path;
}

test("upload: bytes, a file in one PUT or in parts, or through the broker; a worker reads each back", { skip }, async () => {
  const client = new Client({ target });
  const queue = uniqueQueue("upload");
  const read = new Map<string, string>();
  const w = new Worker(queue, { logger: quiet, handleSignals: false, pollWaitMs: 1000 })
    .handle("blob", async (ctx) => { read.set(ctx.id, sha(await ctx.readPayload())); });
  const bytes = randomBytes(300 * 1024), small = randomBytes(2 * MIB), large = randomBytes(2 * PART + MIB);
  const streamed = randomBytes(3 * MIB + 17);
  const cases: [string, Uint8Array, string | Uint8Array, UploadOptions, number[]][] = [
    ["bytes, one PUT", bytes, bytes, {}, [bytes.length]],
    ["a file, one PUT", small, tempFile("small.bin", small), {}, [small.length]],
    ["a file in parts", large, tempFile("large.bin", large), { multipartOver: MIB }, [PART, PART, MIB]],
    ["bytes in parts", small, small, { multipartOver: MIB }, [small.length]],
    ["a file through the broker", streamed, tempFile("streamed.bin", streamed), { throughBroker: true }, []],
    ["bytes through the broker", bytes, bytes, { throughBroker: true }, []],
  ];
  const jobs = new Map<string, string>();
  const running = w.run({ target });
  try {
    for (const [name, data, source, options, puts] of cases) {
      const spy = spyPuts();
      try {
        const ref = await client.upload(source, options);
        assert.deepEqual([ref.size, ref.sha256], [data.length, sha(data)], name);
        assert.deepEqual(spy.puts, puts, `${name}: the PUTs`);
        const { jobId } = await client.enqueue(queue, "blob", undefined, { payloadRef: ref });
        jobs.set(jobId, name);
      } finally {
        spy.restore();
      }
    }
    await eventually(() => read.size === cases.length, 30_000, "the worker to read every payload");
    for (const [jobId, name] of jobs) {
      const data = cases.find((c) => c[0] === name)![1];
      assert.equal(read.get(jobId), sha(data), `${name}: the bytes the worker read`);
    }
  } finally {
    w.stop();
    await running;
    client.close();
  }
});

test("upload: bad input is refused with a clear error before anything is sent", { skip }, async () => {
  const client = new Client({ target, retry: { maxAttempts: 1 } });
  const spy = spyPuts();
  try {
    await assert.rejects(client.upload("/nonexistent/scan.tiff"), (e: NodeJS.ErrnoException) =>
      e.code === "ENOENT" && e.message.includes("/nonexistent/scan.tiff"));
    await assert.rejects(client.upload(tempFile("x", randomBytes(10)), { throughBroker: true, timeoutMs: 0 }), RangeError);
    await assert.rejects(client.upload(new Uint8Array(3), { multipartOver: -1 }), /multipartOver must be a whole number/);
    await assert.rejects(client.upload(42 as never), TypeError);
    assert.deepEqual(spy.puts, []);
    const data = randomBytes(4096);
    const ref = await client.upload(data);
    const queue = uniqueQueue("upload-bad");
    await assert.rejects(client.enqueue(queue, "k", "inline", { payloadRef: ref }), /a payload or a payloadRef, not both/);
    await assert.rejects(client.enqueue(queue, "k", undefined, { payloadRef: { ...ref, sha256: "ab" } }), /64 lowercase hex/);
    await assert.rejects(client.enqueue(queue, "k", undefined, { payloadRef: { ...ref, size: ref.size + 1 } }),
      (e: InvalidRequest) => e instanceof InvalidRequest && e.fieldViolations[0]?.field === "job.payload_ref.size");
  } finally {
    spy.restore();
    client.close();
  }
});

test("upload: a file that changes after it was first read fails the upload, naming the file", { skip }, async () => {
  const client = new Client({ target });
  const path = tempFile("changing.bin", randomBytes(64 * 1024));
  const spy = spyPuts(() => writeFileSync(path, randomBytes(64 * 1024))); // same size, other bytes
  try {
    await assert.rejects(client.upload(path), (e: UploadFailed) =>
      e instanceof UploadFailed && e.message.includes(path) && /changed while it was uploaded/.test(e.message));
    assert.equal(spy.puts.length, 1);
  } finally {
    spy.restore();
    client.close();
  }
});
