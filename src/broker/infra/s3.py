"""The ObjectStorage port on an S3-compatible server, through the AWS SDK (boto3; its calls run
in threads, off the event loop). Signing is local: a pre-signed URL costs no request."""

from __future__ import annotations

import asyncio
import functools
import logging
import base64
import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from broker.entities.errors import Unavailable
from broker.infra.storage_settings import StorageSettings
from broker.usecases.payloads.ports import ObjectInfo, Presigned

_READ_CHUNK = 1024 * 1024
_DELETE_BATCH = 1000  # S3's most per DeleteObjects
THREADS = 4  # the SDK's calls in flight at once


def client(s: StorageSettings):
    """The SDK's client for these settings (path-style addressing works on every server)."""
    # At DEBUG the SDK logs its requests and signing: pre-signed URLs are secrets, never logged,
    # whatever BROKER_LOG_LEVEL says.
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.getLogger(name).level, logging.INFO))
    return boto3.client(
        "s3", endpoint_url=s.endpoint, region_name=s.region, aws_access_key_id=s.access_key_id,
        aws_secret_access_key=s.secret_access_key,
        # Checksums only where S3 requires them: the SDK's default (a CRC32 trailer on every
        # upload, botocore >= 1.36) is refused by several S3-compatible servers, and it wraps
        # each part in a copy. The broker checks SHA-256 itself.
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 3, "mode": "standard"},
                      request_checksum_calculation="when_required", response_checksum_validation="when_required"))


def _away(exc: Exception) -> Unavailable:
    # The error's code or type, never the request (it may hold a signed URL).
    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
    return Unavailable(f"object storage: {code or type(exc).__name__}")


class S3Storage:
    """ObjectStorage on one bucket. The SDK's calls run on a few threads of its own: each thread
    that allocates gets a malloc arena that keeps what it freed, so fewer threads hold less
    memory after large transfers (the default executor has up to cores + 4)."""

    def __init__(self, s3_client, bucket: str, threads: int = THREADS) -> None:
        self._s3, self._bucket = s3_client, bucket
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="s3")

    async def check(self) -> None:
        """Reach the bucket once (HeadBucket): a wrong bucket, endpoint or credentials show at
        start-up, and the SDK's request path is loaded before the first upload."""
        await self._call(self._s3.head_bucket, Bucket=self._bucket)

    def close(self) -> None:
        self._threads.shutdown(wait=False)

    def presign_put(self, key: str, size: int, ttl: float) -> Presigned:
        url = self._s3.generate_presigned_url(
            "put_object", Params={"Bucket": self._bucket, "Key": key, "ContentLength": size},
            ExpiresIn=int(ttl))
        return Presigned(url, {"content-type": "application/octet-stream"})

    def presign_get(self, key: str, ttl: float) -> str:
        return self._s3.generate_presigned_url("get_object", Params={"Bucket": self._bucket, "Key": key},
                                               ExpiresIn=int(ttl))

    def presign_part(self, key: str, upload_id: str, number: int, ttl: float) -> str:
        return self._s3.generate_presigned_url(
            "upload_part", Params={"Bucket": self._bucket, "Key": key, "UploadId": upload_id,
                                   "PartNumber": number}, ExpiresIn=int(ttl))

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            found = await self._run(functools.partial(self._s3.head_object, Bucket=self._bucket, Key=key,
                                                      ChecksumMode="ENABLED"))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _away(exc) from None
        except (BotoCoreError, OSError) as exc:
            raise _away(exc) from None
        kept = found.get("ChecksumSHA256")
        # A multipart object's checksum is one of its parts' ("...-N"): not the bytes' SHA-256.
        sha = base64.b64decode(kept).hex() if kept and "-" not in kept else None
        return ObjectInfo(found["ContentLength"], sha)

    async def digest(self, key: str) -> str:
        def read() -> str:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"]
            sha = hashlib.sha256()
            for chunk in body.iter_chunks(_READ_CHUNK):
                sha.update(chunk)
            return sha.hexdigest()
        return await self._guard(self._run(read))

    async def put(self, key: str, data: bytes) -> None:
        await self._call(self._s3.put_object, Bucket=self._bucket, Key=key, Body=data)

    async def delete(self, keys: Sequence[str]) -> None:
        for i in range(0, len(keys), _DELETE_BATCH):
            objects = [{"Key": k} for k in keys[i:i + _DELETE_BATCH]]
            await self._call(self._s3.delete_objects, Bucket=self._bucket,
                             Delete={"Objects": objects, "Quiet": True})

    async def start_multipart(self, key: str) -> str:
        found = await self._call(self._s3.create_multipart_upload, Bucket=self._bucket, Key=key)
        return found["UploadId"]

    async def put_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        found = await self._call(self._s3.upload_part, Bucket=self._bucket, Key=key, UploadId=upload_id,
                                 PartNumber=number, Body=data)
        return found["ETag"]

    async def complete_multipart(self, key: str, upload_id: str, etags: Sequence[str] | None) -> None:
        if etags is None:
            etags = await self._listed_parts(key, upload_id)
        parts = [{"PartNumber": n, "ETag": tag} for n, tag in enumerate(etags, 1)]
        await self._call(self._s3.complete_multipart_upload, Bucket=self._bucket, Key=key,
                         UploadId=upload_id, MultipartUpload={"Parts": parts})

    async def _listed_parts(self, key: str, upload_id: str) -> list[str]:
        """The ETags of the parts put so far, in order (ListParts pages 1,000 at a time)."""
        parts, marker = [], 0
        while True:
            page = await self._call(self._s3.list_parts, Bucket=self._bucket, Key=key, UploadId=upload_id,
                                    PartNumberMarker=marker)
            parts += page.get("Parts", [])
            if not page.get("IsTruncated"):
                return [p["ETag"] for p in sorted(parts, key=lambda p: p["PartNumber"])]
            marker = page["NextPartNumberMarker"]

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            await self._call(self._s3.abort_multipart_upload, Bucket=self._bucket, Key=key, UploadId=upload_id)
        except Unavailable:
            pass  # the bucket's lifecycle rule for incomplete uploads is the backstop

    async def _call(self, method, **kwargs):
        return await self._guard(self._run(functools.partial(method, **kwargs)))

    def _run(self, work):
        return asyncio.get_running_loop().run_in_executor(self._threads, work)

    @staticmethod
    async def _guard(work):
        try:
            return await work
        except (ClientError, BotoCoreError, OSError) as exc:
            raise _away(exc) from None
