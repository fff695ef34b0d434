"""Object storage settings (S3-compatible: AWS S3, MinIO, Ceph, R2, ...). Without
BROKER_S3_BUCKET there is no storage: large payloads are refused, saying how to configure it."""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.entities.payload import StorageRules
from broker.infra.env import Env, SettingsError

MIN_PART = 5 * 1024 * 1024  # S3 refuses smaller parts (but the last)


@dataclass(frozen=True)
class StorageSettings:
    bucket: str | None = None  # None: no object storage
    endpoint: str | None = None  # None: AWS's own for the region
    region: str = "us-east-1"
    access_key_id: str | None = None  # None: the AWS SDK's own chain (env, profile, instance role)
    secret_access_key: str | None = field(default=None, repr=False)
    prefix: str = "broker/"  # every key the broker makes starts with it
    rules: StorageRules = StorageRules()

    @property
    def enabled(self) -> bool:
        return self.bucket is not None


def read_storage(e: Env, max_payload_bytes: int) -> StorageSettings:
    d, r = StorageSettings(), StorageRules()
    bucket = e.get("BROKER_S3_BUCKET", None)
    rules = StorageRules(
        enabled=bucket is not None,
        offload_threshold=e.get("BROKER_OFFLOAD_THRESHOLD", min(r.offload_threshold, max_payload_bytes), int),
        max_upload_bytes=e.get("BROKER_MAX_UPLOAD_BYTES", r.max_upload_bytes, int),
        url_ttl=e.get("BROKER_S3_URL_TTL", r.url_ttl, float),
        upload_ttl=e.get("BROKER_S3_UPLOAD_TTL", r.upload_ttl, float),
        part_size=e.get("BROKER_S3_PART_SIZE", r.part_size, int),
    )
    if rules.offload_threshold > max_payload_bytes:
        raise SettingsError(f"BROKER_OFFLOAD_THRESHOLD={rules.offload_threshold} is over "
                            f"BROKER_MAX_PAYLOAD_BYTES={max_payload_bytes}: it must be within the payload limit")
    if rules.part_size < MIN_PART:
        raise SettingsError(f"BROKER_S3_PART_SIZE={rules.part_size}: at least {MIN_PART} (S3's least part)")
    if rules.url_ttl < 1 or rules.url_ttl > 7 * 86400:
        raise SettingsError(f"BROKER_S3_URL_TTL={rules.url_ttl:g}: 1 s to 7 days (S3's longest pre-signed URL)")
    prefix = e.get("BROKER_S3_PREFIX", d.prefix)
    if " " in prefix:
        raise SettingsError(f"BROKER_S3_PREFIX={prefix!r}: no spaces")
    access, secret = e.get("BROKER_S3_ACCESS_KEY_ID", None), e.get("BROKER_S3_SECRET_ACCESS_KEY", None)
    if (access is None) != (secret is None):
        raise SettingsError("BROKER_S3_ACCESS_KEY_ID and BROKER_S3_SECRET_ACCESS_KEY go together")
    return StorageSettings(bucket, e.get("BROKER_S3_ENDPOINT", None), e.get("BROKER_S3_REGION", d.region),
                           access, secret, prefix, rules)
