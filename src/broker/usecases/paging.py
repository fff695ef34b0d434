"""Page tokens of job listings: opaque, signed, and bound to the listing they continue.

A token carries the position after the last job of a page (its created_at and id) and an
HMAC-SHA256 over that position and the listing's filters, under a secret every replica shares
(the composition root reads it from the database, where the migrations put it). So a token is
honoured by any replica, across restarts, and only for the listing it came from; anything else
(a forged or altered token, one from before this format, one from another listing) is refused
as INVALID_ARGUMENT before anything reaches the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import uuid
from datetime import datetime, timedelta, timezone

from broker.entities.errors import InvalidArgument

_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# version (1 byte), created_at in microseconds since the epoch (8), job id (16), tag (16)
_BODY = struct.Struct(">Bq16s")
_TAG_BYTES = 16
_TOKEN_BYTES = _BODY.size + _TAG_BYTES
_REFUSED = "is not a token this broker issued for this listing; list again without one"

Cursor = tuple[datetime, str]


class PageTokens:
    """Issues and reads the tokens; `secret` is the key shared by every replica."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the page token secret must have at least 16 bytes")
        self._secret = secret

    def issue(self, listing: str, created_at: datetime, job_id: str) -> str:
        """The token for the page after the job (`created_at`, `job_id`) in `listing` (its filters)."""
        micros = (created_at - _EPOCH) // timedelta(microseconds=1)
        body = _BODY.pack(_VERSION, micros, uuid.UUID(job_id).bytes)
        return base64.urlsafe_b64encode(body + self._tag(listing, body)).decode().rstrip("=")

    def read(self, listing: str, token: str) -> Cursor | None:
        """The position a token continues from; None for no token. Raises InvalidArgument."""
        if not token:
            return None
        raw = _decode(token)
        body, tag = raw[:_BODY.size], raw[_BODY.size:]
        if not hmac.compare_digest(tag, self._tag(listing, body)):
            raise InvalidArgument("page_token", _REFUSED)
        version, micros, job_id = _BODY.unpack(body)
        if version != _VERSION:
            raise InvalidArgument("page_token", _REFUSED)
        return _EPOCH + timedelta(microseconds=micros), str(uuid.UUID(bytes=job_id))

    def _tag(self, listing: str, body: bytes) -> bytes:
        message = listing.encode() + b"\0" + body
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_TAG_BYTES]


def _decode(token: str) -> bytes:
    if len(token) > 2 * _TOKEN_BYTES:
        raise InvalidArgument("page_token", _REFUSED)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise InvalidArgument("page_token", _REFUSED) from None
    if len(raw) != _TOKEN_BYTES:
        raise InvalidArgument("page_token", _REFUSED)
    return raw
