"""POST /v1/uploads: a large payload streamed through the broker, for producers that cannot reach
the object storage. A multipart/form-data body: an optional `sha256` field (the bytes' SHA-256,
checked), then a `file` field with the bytes. The file goes to the storage part by part as it
arrives (one part in memory at a time), under BROKER_MAX_UPLOAD_BYTES.

Answers 201 {"payload_ref": {"key", "size", "sha256"}}: enqueue it as the job's payload_ref.
400 a malformed form or a SHA-256 that differs, 413 over the limit, 401/403 without a producer
key (BROKER_AUTH on), 409 without object storage, 503 storage or database away."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web

from broker.entities.errors import FailedPrecondition, InvalidArgument
from broker.entities.payload import HOW_TO_CONFIGURE
from broker.usecases.payloads.stream_upload import StreamUpload

PATH = "/v1/uploads"
CHUNK = 256 * 1024


def add_routes(app: web.Application, stream: StreamUpload | None, max_bytes: int = 0) -> None:
    """Without `stream` (no object storage) the route says how to configure it."""
    async def upload(request: web.Request) -> web.Response:
        if stream is None:
            raise FailedPrecondition(f"object storage is not configured: {HOW_TO_CONFIGURE}")
        if request.content_length is not None and request.content_length > max_bytes + 64 * 1024:
            return _too_large(max_bytes)
        reader = await _form(request)
        declared, part = "", await reader.next()
        if isinstance(part, BodyPartReader) and part.name == "sha256":
            declared = (await part.text()).strip()
            part = await reader.next()
        if not isinstance(part, BodyPartReader) or part.name != "file":
            raise InvalidArgument("file", "send the bytes as a form field named file (after an optional sha256)")
        try:
            ref = await stream(_chunks(part), "file", lambda: declared or None)
        except InvalidArgument as exc:
            if exc.field == "file" and "upload limit" in exc.problem:
                return _too_large(max_bytes)
            raise
        return web.json_response({"payload_ref": {"key": ref.key, "size": ref.size, "sha256": ref.sha256}},
                                 status=201)

    app.router.add_post(PATH, upload)


async def _form(request: web.Request):
    if not request.content_type.startswith("multipart/form-data"):
        raise InvalidArgument("body", "send multipart/form-data with a file field")
    try:
        return await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise InvalidArgument("body", f"not a multipart form ({type(exc).__name__})") from None


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


def _too_large(max_bytes: int) -> web.Response:
    response = web.json_response({"error": f"file: over the upload limit of {max_bytes} bytes "
                                           "(BROKER_MAX_UPLOAD_BYTES)"}, status=413)
    response.force_close()  # the rest of the body is not read
    return response
