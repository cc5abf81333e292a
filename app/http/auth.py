"""Optional API keys: only their SHA-256 hashes are stored; compared in constant time; never logged.

Keys are made by `flask keys create NAME` (app/cli/keys.py) and kept in API_KEYS_FILE
(instance/api_keys.json), or, for a fleet that must accept the same keys on every instance, given
as hashes in the API_KEYS setting (a secret passed as LOOKSLIKE_API_KEYS; `flask keys create NAME
--secret` prints the entry). While any key exists, or REQUIRE_API_KEY is set, the paths under
API_KEY_PATHS (/api/v1/ by default) need `X-API-Key: KEY` or `Authorization: Bearer KEY`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from datetime import UTC, datetime

from flask import Flask, Response, current_app, g, request

from app.http.security import as_list
from app.instance_paths import api_keys_path
from app.pipeline.errors import StartupError, Unauthorized

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
PREFIX = "ll_"  # keys look like ll_<43 url-safe characters>: 256 random bits
OPEN_PATHS = ("/api/v1/openapi.json",)  # the spec says how to authenticate, so it is always open


def hash_key(key: str) -> str:
    """Hex SHA-256 of a key (keys are 256 random bits, so a fast hash is enough)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


HEX_HASH = re.compile(r"[0-9a-f]{64}")


def configured_keys(setting) -> dict[str, dict]:
    """API_KEYS ({"NAME": "<sha256 hex of the key>"}) as key-store entries; ValueError naming a bad one."""
    if not isinstance(setting, dict):
        raise ValueError('API_KEYS must be a mapping {"NAME": "<sha256 hex>"} (LOOKSLIKE_API_KEYS: that as JSON)')
    for name, digest in setting.items():
        if not NAME.fullmatch(str(name)) or not HEX_HASH.fullmatch(str(digest)):
            raise ValueError(f"API_KEYS entry {name!r}: a name of letters, digits, '.', '_' or '-' and the key's "
                             "SHA-256 as 64 lowercase hex digits (never the key itself)")
    return {str(name): {"hash": str(digest), "created": "API_KEYS setting"} for name, digest in setting.items()}


class KeyStore:
    """The API keys file: name -> {hash, created}; reloaded when the file changes. Keys of the API_KEYS
    setting (`fixed`) are added to the file's and cannot be revoked with the CLI."""

    def __init__(self, path: str, fixed: dict[str, dict] | None = None) -> None:
        self.path = path
        self.fixed = fixed or {}
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._keys: dict[str, dict] = dict(self.fixed)  # until a keys file appears

    def load(self) -> dict[str, dict]:
        """The keys, re-read when the file's size or modification time changed."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._keys = {**(self._read() if stamp else {}), **self.fixed}
                self._stamp = stamp
            return self._keys

    def _read(self) -> dict[str, dict]:
        """Parse the file (a corrupt file counts as keys required, with none valid)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
            return {str(k): v for k, v in data.get("keys", {}).items() if isinstance(v, dict) and "hash" in v}
        except (OSError, ValueError, AttributeError):
            return {"<unreadable keys file>": {"hash": ""}}

    def save(self, keys: dict[str, dict]) -> None:
        """Write atomically, readable by the owner only (the API_KEYS setting's keys stay out of the file)."""
        keys = {name: entry for name, entry in keys.items() if name not in self.fixed}
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"keys": keys}, f, indent=2, sort_keys=True)
        os.replace(tmp, self.path)

    def create(self, name: str) -> str:
        """A new key for NAME (returned once, stored only as its hash)."""
        if not NAME.fullmatch(name):
            raise ValueError("a name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        keys = dict(self.load())
        if name in keys:
            raise ValueError(f"a key named '{name}' exists; revoke it first")
        key = PREFIX + secrets.token_urlsafe(32)
        keys[name] = {"hash": hash_key(key), "created": datetime.now(UTC).isoformat(timespec="seconds")}
        self.save(keys)
        return key

    def revoke(self, name: str) -> bool:
        """Remove NAME's key; False when there is none; ValueError for a key of the API_KEYS setting."""
        if name in self.fixed:
            raise ValueError(f"'{name}' comes from the API_KEYS setting: remove it there (and restart)")
        keys = dict(self.load())
        if keys.pop(name, None) is None:
            return False
        self.save(keys)
        return True

    def match(self, key: str) -> str | None:
        """The name of the key, or None; every stored hash is compared, in constant time."""
        digest = hash_key(key)
        found = None
        for name, entry in self.load().items():
            if hmac.compare_digest(digest.encode(), str(entry.get("hash", "")).encode("utf-8", "replace")):
                found = name
        return found


def presented_key() -> str | None:
    """The key the request carries: X-API-Key, or Authorization: Bearer."""
    key = request.headers.get("X-API-Key")
    if key:
        return key.strip()
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def store() -> KeyStore:
    """The current app's key store."""
    return current_app.extensions["lookslike.keys"]


def keys_required() -> bool:
    """True when this request's path needs a key (any key exists, or REQUIRE_API_KEY)."""
    if request.method == "OPTIONS" or request.path in OPEN_PATHS:
        return False
    if not any(request.path.startswith(p) for p in as_list(current_app.config["API_KEY_PATHS"])):
        return False
    return bool(current_app.config["REQUIRE_API_KEY"]) or bool(store().load())


def check_key() -> None:
    """before_request: 401 when a key is required and missing or wrong; g.api_key names the key."""
    g.api_key = None
    key = presented_key()
    if key and store().load():
        g.api_key = store().match(key)
    if g.api_key is None and keys_required():
        if key:
            raise Unauthorized("The API key is not valid (revoked or mistyped).")
        raise Unauthorized("An API key is required: send it as X-API-Key or Authorization: Bearer.")


def challenge(response: Response) -> Response:
    """A 401 names the scheme to use (RFC 9110 WWW-Authenticate)."""
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="lookslike"')
    return response


def init_app(app: Flask) -> None:
    """Attach the key store and the key check."""
    try:
        fixed = configured_keys(app.config["API_KEYS"])
    except ValueError as exc:
        raise StartupError(f"{exc}. Fix the API_KEYS setting (or LOOKSLIKE_API_KEYS).") from exc
    app.extensions["lookslike.keys"] = KeyStore(api_keys_path(app), fixed)
    app.before_request(check_key)
    app.after_request(challenge)
