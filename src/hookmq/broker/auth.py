"""Password-file authentication.

Why a plain file: operators get a user store that needs no database, can be edited with
`hookmq user add/remove` while the broker runs, and stores only argon2id hashes so a leaked
file does not leak passwords. The broker notices edits by polling the file's identity
(inode, mtime, size) at most once per second, so no restart or signal is needed.

File format, one user per line (blank lines and `#` comments are ignored)::

    alice:$argon2id$v=19$m=19456,t=2,p=1$...

`verify` is deliberately slow (a few ms of argon2); callers run it in a worker thread, so the
user table is swapped atomically under a lock and the hashing itself runs outside it.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["AuthConfigError", "PasswordFile", "PasswordFileNotFoundError", "validate_username"]

log = logging.getLogger(__name__)

RELOAD_CHECK_INTERVAL = 1.0
"""Seconds between two checks of the password file for changes."""

_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_HEADER = "# hookmq password file: username:argon2id-hash, managed by `hookmq user`\n"

_Signature = tuple[int, int, int]
"""(inode, mtime_ns, size): changes whenever the file is rewritten or replaced."""


class AuthConfigError(Exception):
    """The password file is missing (see subclass) or malformed."""


class PasswordFileNotFoundError(AuthConfigError, FileNotFoundError):
    """`PasswordFile.open_existing` was given a path that does not exist."""


@functools.cache
def _dummy_hash() -> str:
    """Hash verified against for unknown users so they take as long as known ones."""
    return _HASHER.hash("hookmq-dummy-password-for-unknown-users")


def validate_username(username: str) -> None:
    """Raise ValueError if `username` cannot be stored in (and read back from) the file."""
    if not username:
        raise ValueError("username must not be empty")
    if ":" in username:
        raise ValueError(f"username {username!r} must not contain ':'")
    if "\n" in username or "\r" in username:
        raise ValueError(f"username {username!r} must not contain a newline")
    if username.lstrip().startswith("#"):
        raise ValueError(f"username {username!r} must not start with '#' (it would read as a comment)")


def _parse_line(path: Path, lineno: int, line: str) -> tuple[str, str]:
    username, sep, pw_hash = line.partition(":")
    pw_hash = pw_hash.strip()

    def fail(problem: str) -> AuthConfigError:
        return AuthConfigError(f"{path}:{lineno}: {problem}")

    if not sep:
        raise fail("expected 'username:hash', found no ':'")
    if not username:
        raise fail("empty username")
    if not pw_hash:
        raise fail(f"empty password hash for user {username!r}")
    try:
        extract_parameters(pw_hash)
    except InvalidHashError:
        raise fail(f"password hash for user {username!r} is not an argon2 hash") from None
    return username, pw_hash


def _parse(path: Path, text: str) -> dict[str, str]:
    """Parse file contents into {username: hash}; raise AuthConfigError on a malformed line."""
    users: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        username, pw_hash = _parse_line(path, lineno, line)
        if username in users:
            raise AuthConfigError(
                f"{path}:{lineno}: duplicate user {username!r} (first defined on line {first_seen[username]})"
            )
        users[username] = pw_hash
        first_seen[username] = lineno
    return users


def _read(path: Path) -> tuple[_Signature, str] | None:
    """Read the file and the signature of exactly the version read; None if it does not exist."""
    try:
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except FileNotFoundError:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuthConfigError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    return (st.st_ino, st.st_mtime_ns, st.st_size), text


def _stat_signature(path: Path) -> _Signature | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class PasswordFile:
    """The users of one password file, reloaded automatically when the file changes.

    Edits made with `add`/`remove` stay in memory until `save`; while there are unsaved edits
    the file is not reloaded, so they cannot be silently lost.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._users: dict[str, str] = {}
        self._loaded = False
        self._signature: _Signature | None = None
        self._next_check = 0.0
        self._dirty = False

    @classmethod
    def open_existing(cls, path: str | Path) -> PasswordFile:
        """Load a password file that must exist (e.g. configured for a running broker)."""
        pw_file = cls(path)
        if not pw_file.path.exists():
            raise PasswordFileNotFoundError(f"password file {pw_file.path} does not exist")
        pw_file.load()
        return pw_file

    def load(self) -> None:
        """(Re)read the file now; a missing file means no users. Discards unsaved edits."""
        with self._lock:
            self._load_locked()

    def verify(self, username: str | None, password: bytes | None) -> bool:
        """True iff `username` exists and `password` matches its hash. Never raises."""
        if username is None or password is None:
            return False
        try:
            with self._lock:
                self._refresh_locked()
        except (AuthConfigError, OSError) as exc:
            log.error("keeping previous users, cannot reload password file: %s", exc)
        pw_hash = self._users.get(username)
        try:
            return _HASHER.verify(pw_hash or _dummy_hash(), password) and pw_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def add(self, username: str, password: str) -> None:
        """Add `username`, replacing its password if it already exists (in memory until `save`)."""
        validate_username(username)
        pw_hash = _HASHER.hash(password)
        with self._lock:
            self._refresh_locked()
            self._users = {**self._users, username: pw_hash}
            self._dirty = True

    def remove(self, username: str) -> bool:
        """Remove `username` (in memory until `save`); False if there was no such user."""
        with self._lock:
            self._refresh_locked()
            if username not in self._users:
                return False
            self._users = {name: h for name, h in self._users.items() if name != username}
            self._dirty = True
            return True

    def usernames(self) -> list[str]:
        with self._lock:
            self._refresh_locked()
            return sorted(self._users)

    def save(self) -> None:
        """Write all users atomically (temp file in the same directory + os.replace), mode 0o600."""
        with self._lock:
            content = _HEADER + "".join(f"{name}:{h}\n" for name, h in sorted(self._users.items()))
            _atomic_write(self.path, content)
            self._signature = _stat_signature(self.path)
            self._loaded = True
            self._dirty = False

    def _load_locked(self) -> None:
        # Set before reading so an unreadable file is retried once per interval, not on every call.
        self._loaded = True
        self._dirty = False
        self._next_check = time.monotonic() + RELOAD_CHECK_INTERVAL
        result = _read(self.path)
        if result is None:
            self._signature, self._users = None, {}
            return
        signature, text = result
        # Remember the version even if it is malformed, so a broken file is reported once, not every second.
        self._signature = signature
        self._users = _parse(self.path, text)

    def _refresh_locked(self) -> None:
        if not self._loaded:
            self._load_locked()
            return
        now = time.monotonic()
        if self._dirty or now < self._next_check:
            return
        self._next_check = now + RELOAD_CHECK_INTERVAL
        if _stat_signature(self.path) != self._signature:
            self._load_locked()


def _atomic_write(path: Path, content: str) -> None:
    # mkstemp creates the file with mode 0o600, which os.replace carries over to `path`.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
