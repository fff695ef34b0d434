"""Who may call what: roles, principals, and API keys (stored as hashes, never as tokens)."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from broker.entities.errors import InvalidArgument

TOKEN_PREFIX = "brk"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_NAME = re.compile(r"[\x20-\x7e]{1,128}")


class Permission(enum.Enum):
    """What a call needs."""

    ENQUEUE = "enqueue"   # Enqueue, EnqueueBatch
    WORK = "work"         # Lease, Heartbeat, Ack, Nack
    ADMIN = "admin"       # the AdminService
    READ_JOB = "read_job"  # GetJob: producers follow the jobs they enqueued (and their results)


class Role(enum.Enum):
    PRODUCER = "producer"
    WORKER = "worker"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls(value.lower())
        except ValueError:
            raise InvalidArgument("role", f"{value!r} is not one of producer, worker, admin") from None

    def allows(self, permission: Permission) -> bool:
        return permission in _GRANTS[self]


_GRANTS = {
    Role.PRODUCER: frozenset({Permission.ENQUEUE, Permission.READ_JOB}),
    Role.WORKER: frozenset({Permission.WORK}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    key_id: str
    name: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return self.role.allows(permission)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: the SHA-256 of its token, never the token itself."""

    id: str
    name: str
    role: Role
    token_hash: bytes
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def matches(self, token: str) -> bool:
        """Constant-time comparison of the token's hash with the stored one."""
        return hmac.compare_digest(hash_token(token), self.token_hash)

    def principal(self) -> Principal:
        return Principal(self.id, self.name, self.role)


def hash_token(token: str) -> bytes:
    """SHA-256 is enough for tokens with 256 random bits (no dictionary to attack; no slow hash needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def new_token() -> tuple[str, str]:
    """A fresh (key id, token). The token is `brk_<key id>_<secret>`; the id is public, the secret is not."""
    key_id = secrets.token_hex(8)
    return key_id, f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(token: str) -> str | None:
    """The key id a well-formed token names, or None."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not _KEY_ID.fullmatch(key_id) or not secret:
        return None
    return key_id


def check_key_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidArgument("name", "must be 1-128 printable ASCII characters")
    return name


def check_key_id(key_id: str) -> str:
    if not _KEY_ID.fullmatch(key_id):
        raise InvalidArgument("key_id", f"{key_id[:40]!r} is not a key id (16 hex digits)")
    return key_id
