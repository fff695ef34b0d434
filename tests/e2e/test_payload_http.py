"""POST /v1/uploads through the real server: a multipart/form-data body streamed to the real
S3-compatible server in parts, its reference enqueued and read back; a SHA-256 that differs and
a malformed form are 400; a broker without storage says how to configure it."""

from __future__ import annotations

import aiohttp

from broker.v1 import job_pb2
from broker.v1 import job_service_pb2 as pb
from tests.e2e.helpers import lease
from tests.e2e.payload_helpers import http, sha, with_ref

MIB = 1024 * 1024


async def _post(port: int, form: aiohttp.FormData | bytes, content_type: str | None = None):
    headers = {"Content-Type": content_type} if content_type else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/v1/uploads", data=form, headers=headers) as response:
            return response.status, await response.json()


def _form(data: bytes, declared: str | None = None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if declared is not None:
        form.add_field("sha256", declared)
    form.add_field("file", data, filename="payload.bin", content_type="application/octet-stream")
    return form


async def test_a_form_upload_is_streamed_to_storage_and_enqueued(storage_broker, storage_jobs, queue, s3_server, s3_bucket):
    data = bytes(range(256)) * (11 * MIB // 256)

    status, body = await _post(storage_broker.http_port, _form(data, sha(data)))
    ref = job_pb2.PayloadRef(**body["payload_ref"])
    await storage_jobs.Enqueue(pb.EnqueueRequest(job=with_ref(queue, ref)))
    [leased] = await lease(storage_jobs, queue)

    assert status == 201 and (ref.size, ref.sha256) == (len(data), sha(data))
    assert ref.key in s3_server.keys(s3_bucket)
    assert await http(leased.payload_url) == data


async def test_a_form_whose_bytes_differ_from_its_sha256_is_refused(storage_broker, s3_server, s3_bucket):
    before = s3_server.keys(s3_bucket)
    status, body = await _post(storage_broker.http_port, _form(b"abc", "0" * 64))
    assert status == 400 and body["error"].startswith("sha256")
    assert s3_server.keys(s3_bucket) == before


async def test_a_body_that_is_not_a_form_with_a_file_is_refused(storage_broker):
    not_form = await _post(storage_broker.http_port, b"raw", "application/octet-stream")
    no_file = aiohttp.FormData()
    no_file.add_field("other", b"x", filename="x.bin")  # a form of files: multipart
    wrong_field = await _post(storage_broker.http_port, no_file)
    assert not_form[0] == 400 and not_form[1]["error"].startswith("body")
    assert wrong_field[0] == 400 and wrong_field[1]["error"].startswith("file")


async def test_without_storage_the_upload_route_says_how_to_configure_it(broker_server):
    status, body = await _post(broker_server.http_port, _form(b"abc"))
    assert status == 409 and "BROKER_S3_BUCKET" in body["error"]
