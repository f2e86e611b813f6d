"""API keys, stored hashed in Redis.

A key is shown once, at creation, as "ssk_<key id>_<secret>". Redis keeps only
the key id, its name, its scopes and the SHA-256 of the secret. The secret is
32 random bytes, so a plain SHA-256 is enough: nothing short enough to guess
is ever hashed, unlike a password. Keys live in Redis (AOF on) rather than in
ClickHouse, so event ingestion keeps authenticating while ClickHouse is down.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

import redis

from storage import clients
from storage.errors import StorageUnavailable

SCOPES = ("ingest", "catalog", "analytics", "admin", "search")
_PREFIX = "ssk"
_REDIS_KEY = "apikey:{}"
_INDEX_KEY = "apikeys"
# Compared against when the key id is unknown, so an unknown id takes as long
# to reject as a wrong secret.
_DUMMY_HASH = hashlib.sha256(b"unknown key").hexdigest()


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: frozenset[str]
    created_at: str
    revoked_at: str = ""

    @property
    def active(self) -> bool:
        return not self.revoked_at


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create a key; return it and the token, which is not stored and cannot be shown again."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"invalid scopes {unknown or scopes}: expected one or more of {', '.join(SCOPES)}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(key_id, name, frozenset(scopes), datetime.now(timezone.utc).isoformat(timespec="seconds"))
    try:
        pipe = clients.redis_client().pipeline()
        pipe.hset(_REDIS_KEY.format(key_id), mapping={
            "name": name,
            "scopes": ",".join(sorted(scopes)),
            "secret_sha256": _hash(secret),
            "created_at": key.created_at,
            "revoked_at": "",
        })
        pipe.sadd(_INDEX_KEY, key_id)
        pipe.execute()
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc
    return key, f"{_PREFIX}_{key_id}_{secret}"


def revoke_key(key_id: str) -> bool:
    """Mark a key revoked; return False when no such key exists."""
    try:
        r = clients.redis_client()
        if not r.exists(_REDIS_KEY.format(key_id)):
            return False
        r.hset(_REDIS_KEY.format(key_id), "revoked_at", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        return True
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc


def list_keys() -> list[ApiKey]:
    try:
        r = clients.redis_client()
        keys = [_load(r, key_id.decode()) for key_id in sorted(r.smembers(_INDEX_KEY))]
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc
    return [key for key in keys if key is not None]


def verify_token(token: str) -> ApiKey | None:
    """Return the active key this token belongs to, or None; the secret is compared in constant time."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        return None
    _prefix, key_id, secret = parts
    try:
        fields = clients.redis_client().hgetall(_REDIS_KEY.format(key_id))
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc
    stored = fields.get(b"secret_sha256", b"").decode() or _DUMMY_HASH
    matches = hmac.compare_digest(stored, _hash(secret))
    if not fields or not matches:
        return None
    key = _from_fields(key_id, fields)
    return key if key.active else None


def _load(r: redis.Redis, key_id: str) -> ApiKey | None:
    fields = r.hgetall(_REDIS_KEY.format(key_id))
    return _from_fields(key_id, fields) if fields else None


def _from_fields(key_id: str, fields: dict[bytes, bytes]) -> ApiKey:
    text = {k.decode(): v.decode() for k, v in fields.items()}
    return ApiKey(
        key_id=key_id,
        name=text.get("name", ""),
        scopes=frozenset(s for s in text.get("scopes", "").split(",") if s),
        created_at=text.get("created_at", ""),
        revoked_at=text.get("revoked_at", ""),
    )
