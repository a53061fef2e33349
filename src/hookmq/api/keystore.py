"""``<data_dir>/api_auth.json``: the dashboard admin's password hash and the API keys (mode 0600).

One small JSON file shared by the running node (login, ``/api-keys``) and ``hookmq apikey`` run offline.
Writers take an exclusive lock on ``api_auth.json.lock``, re-read the file, change it and replace it
atomically, so the node and the CLI never lose each other's changes; the node re-reads the file whenever its
identity (inode, mtime, size) changes, so a key created or deleted offline works (or stops working) at once.

Nothing here stores a secret in clear: the admin password is an argon2id hash, an API key's secret a SHA-256.
This module imports no HTTP code, so the CLI stays quick to start.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hookmq.config import DEFAULT_ADMIN_PASSWORD

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the node and the CLI should not write at the same moment
    fcntl = None  # type: ignore[assignment]

__all__ = ["ADMIN_USERNAME", "STORE_FILE", "ApiKey", "AuthStore", "AuthStoreError"]

log = logging.getLogger(__name__)

STORE_FILE: Final = "api_auth.json"
ADMIN_USERNAME: Final = "admin"
KEY_PREFIX: Final = "hmq_"

# OWASP's argon2id minimum, as the MQTT password file uses.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class AuthStoreError(Exception):
    """The store file cannot be read, parsed or written; the message names the file."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Admin(_Record):
    username: str = ADMIN_USERNAME
    password_hash: str
    password_change_required: bool
    updated_at: float


class _Key(_Record):
    id: str
    key: str
    # SHA-256, not argon2: the secret is 256 random bits made by `create_api_key`, so guessing it from its
    # hash is as hopeless with a fast hash as with a slow one. Slow hashes exist to protect low-entropy human
    # passwords; here they would only add tens of milliseconds to every request (Prometheus scrapes, the CLI).
    secret_sha256: str
    name: str = ""
    created_at: float


class _File(_Record):
    version: int = 1
    admin: _Admin | None = None
    api_keys: list[_Key] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    key: str
    name: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "name": self.name, "created_at": self.created_at}


@functools.cache
def _dummy_hash() -> str:
    """Verified against for unknown usernames, so they take as long as the real one."""
    return _HASHER.hash("hookmq-dummy-password")


_DUMMY_SHA = hashlib.sha256(b"hookmq-dummy-secret").hexdigest()


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash (slow on purpose: a few tens of ms; run it off the event loop)."""
    return _HASHER.hash(password)


class AuthStore:
    """The file's contents, cached and reloaded when the file changes. Thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / STORE_FILE
        self._lock = threading.Lock()
        self._data = _File()
        self._keys: dict[str, tuple[_Key, ApiKey]] = {}
        self._signature: tuple[int, int, int] | None = None
        self._loaded = False

    # ------------------------------------------------------------------------------------------ reading

    def refresh(self) -> None:
        """Re-read the file if it changed since the last read (a ``stat``: cheap enough for every request).

        Raises:
            AuthStoreError: the file changed and is now unreadable (the previous contents stay in force).
        """
        signature = self._stat()
        if self._loaded and signature == self._signature:
            return
        with self._lock:
            self._load_locked()

    def admin_password_change_required(self) -> bool:
        admin = self._data.admin
        return admin is None or admin.password_change_required

    def has_admin(self) -> bool:
        return self._data.admin is not None

    def verify_admin(self, username: str, password: str) -> bool:
        """True when the admin's username and password match. Slow (argon2): run it in a worker thread."""
        admin = self._data.admin
        known = admin is not None and hmac.compare_digest(username.encode("utf-8", "surrogatepass"),
                                                          admin.username.encode())
        pw_hash = admin.password_hash if admin is not None and known else _dummy_hash()
        try:
            return _HASHER.verify(pw_hash, password.encode("utf-8", "surrogatepass")) and known
        except (VerificationError, InvalidHashError):
            return False

    def api_keys(self) -> list[ApiKey]:
        return [public for _, public in self._keys.values()]

    def check_api_key(self, key: str, secret: str) -> ApiKey | None:
        """The key when ``secret`` is its secret; constant time in the secret whether or not the key exists."""
        found = self._keys.get(key)
        expected = found[0].secret_sha256 if found is not None else _DUMMY_SHA
        ok = hmac.compare_digest(_sha256(secret), expected)
        return found[1] if ok and found is not None else None

    # ------------------------------------------------------------------------------------------ changes

    def ensure_admin(self, password: str | None) -> None:
        """At start: create the admin if there is none (``password`` or the default one, which must then be
        changed at first login); with ``password`` (``api.admin_password``), make it the admin's password."""
        self.refresh()
        admin = self._data.admin
        if admin is not None and (password is None or self.verify_admin(admin.username, password)):
            if password is not None and admin.password_change_required:
                self._update(lambda data: data.model_copy(update={
                    "admin": admin.model_copy(update={"password_change_required": False})}))
            return
        new_hash = hash_password(password if password is not None else DEFAULT_ADMIN_PASSWORD)
        record = _Admin(password_hash=new_hash, password_change_required=password is None, updated_at=time.time())

        def change(data: _File) -> _File:
            if data.admin is not None and password is None:
                return data  # created meanwhile by someone else
            return data.model_copy(update={"admin": record})

        self._update(change)

    def set_admin_password(self, password: str) -> None:
        new_hash = hash_password(password)  # outside the lock: it is the slow part

        def change(data: _File) -> _File:
            username = data.admin.username if data.admin is not None else ADMIN_USERNAME
            return data.model_copy(update={"admin": _Admin(username=username, password_hash=new_hash,
                                                           password_change_required=False,
                                                           updated_at=time.time())})

        self._update(change)

    def create_api_key(self, name: str = "") -> tuple[ApiKey, str]:
        """A new key; returns it with its secret, which is not stored and cannot be shown again."""
        secret = secrets.token_urlsafe(32)
        created: list[_Key] = []

        def change(data: _File) -> _File:
            taken = {k.id for k in data.api_keys}
            key_id = secrets.token_hex(4)
            while key_id in taken:
                key_id = secrets.token_hex(4)
            record = _Key(id=key_id, key=KEY_PREFIX + secrets.token_urlsafe(12), secret_sha256=_sha256(secret),
                          name=name, created_at=round(time.time(), 3))
            created.append(record)
            return data.model_copy(update={"api_keys": [*data.api_keys, record]})

        self._update(change)
        record = created[-1]
        return ApiKey(record.id, record.key, record.name, record.created_at), secret

    def delete_api_key(self, key_id: str) -> bool:
        """Delete by id (or by key); False when there is no such key."""
        deleted: list[bool] = []

        def change(data: _File) -> _File:
            kept = [k for k in data.api_keys if key_id not in (k.id, k.key)]
            deleted.append(len(kept) != len(data.api_keys))
            return data.model_copy(update={"api_keys": kept})

        self._update(change)
        return deleted[-1]

    # ------------------------------------------------------------------------------------------ file

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuthStoreError(f"{self.path}: {exc.strerror or exc}") from None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _load_locked(self) -> None:
        try:
            with self.path.open("rb") as file:
                st = os.fstat(file.fileno())
                raw = file.read()
        except FileNotFoundError:
            self._set(_File(), None)
            return
        except OSError as exc:
            raise AuthStoreError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        try:
            data = _File.model_validate(orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            self._signature = signature  # reported once, not on every request
            raise AuthStoreError(f"{self.path}: not valid JSON: {exc}") from None
        except ValidationError as exc:
            self._signature = signature
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise AuthStoreError(f"{self.path}: not a hookmq API auth file: {where}: {first['msg']}") from None
        self._set(data, signature)

    def _set(self, data: _File, signature: tuple[int, int, int] | None) -> None:
        self._data = data
        self._keys = {k.key: (k, ApiKey(k.id, k.key, k.name, k.created_at)) for k in data.api_keys}
        self._signature = signature
        self._loaded = True

    def _update(self, change: Callable[[_File], _File]) -> None:
        """Read the newest file, apply ``change``, write it back atomically; under the cross-process lock."""
        with self._lock, self._file_lock():
            self._load_locked()
            data = change(self._data)
            if data is self._data:
                return
            content = orjson.dumps(data.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"
            try:
                _atomic_write(self.path, content)
            except OSError as exc:
                raise AuthStoreError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
            self._set(data, self._stat())

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.with_name(STORE_FILE + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise AuthStoreError(f"{self.path}: cannot lock: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


def _atomic_write(path: Path, content: bytes) -> None:
    # mkstemp creates the file with mode 0o600, which os.replace carries over to `path`.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
