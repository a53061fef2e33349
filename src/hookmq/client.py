"""A small blocking client of a running node's REST API, for the command line: JSON in and out, every failure
an exception carrying a message fit to print, and login tokens saved per broker URL.

Only the standard library is used (``urllib.request``): a CLI call is one or two requests, and a fresh process
per call gains nothing from a connection pool.

Saved logins live in ``$XDG_CONFIG_HOME/hookmq/credentials.json`` (default ``~/.config/hookmq/``), mode 0600,
as ``{"<broker url>": {"token", "username", "expires_at"}}``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

__all__ = [
    "DEFAULT_URL", "ApiError", "Client", "ClientError", "ConnectError", "SavedLogin", "authorization",
    "credentials_path", "forget_login", "load_login", "normalize_url", "save_login",
]

DEFAULT_URL: Final = "http://127.0.0.1:18083"
API: Final = "/api/v1"
TIMEOUT: Final = 60.0  # seconds; a webhook test waits for the receiver (request_timeout defaults to 15 s)


class ClientError(Exception):
    """A request that did not succeed; ``str()`` is the message to show."""


class ConnectError(ClientError):
    """No HTTP answer at all: nothing listens, the name does not resolve, the connection broke or timed out."""


class ApiError(ClientError):
    """An HTTP error answer: ``{"code", "message", "errors"}`` from hookmq, or whatever another server sent."""

    def __init__(self, status: int, code: str, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors)


def normalize_url(url: str) -> str:
    """``http://HOST:PORT[/prefix]`` without a trailing slash, scheme and host lower-cased.

    Raises:
        ValueError: not an http(s) URL.
    """
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http:// or https:// URL (e.g. {DEFAULT_URL})")
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def authorization(api_key: str | None, token: str | None) -> str | None:
    """The ``Authorization`` header for a token (Bearer) or an API key (HTTP Basic ``key:secret``); a token wins.

    Raises:
        ValueError: the API key is not ``KEY:SECRET``.
    """
    if token and token.strip():
        return f"Bearer {token.strip()}"
    if api_key and api_key.strip():
        if ":" not in api_key:
            raise ValueError("--api-key / HOOKMQ_API_KEY must be KEY:SECRET, as `hookmq apikey create` prints it")
        return "Basic " + base64.b64encode(api_key.strip().encode()).decode()
    return None


# ---------------------------------------------------------------------------------------------- saved logins


@dataclass(frozen=True, slots=True)
class SavedLogin:
    url: str
    token: str
    username: str
    expires_at: float | None  # unix seconds

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= time.time()


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"  # the XDG spec ignores relative paths
    return root / "hookmq" / "credentials.json"


def _read_credentials(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ClientError(f"{path}: cannot read the saved logins ({exc}); delete the file and log in again") from None
    return data if isinstance(data, dict) else {}


def _write_credentials(path: Path, data: Mapping[str, Any]) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not data:
            path.unlink(missing_ok=True)
            return
        fd, tmp = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)  # created 0600
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise ClientError(f"{path}: cannot save the login: {exc}") from None


def load_login(url: str) -> SavedLogin | None:
    """The login saved for this broker URL, expired or not."""
    url = normalize_url(url)
    entry = _read_credentials(credentials_path()).get(url)
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
        return None
    expires_at = entry.get("expires_at")
    return SavedLogin(url, entry["token"], str(entry.get("username", "")),
                      float(expires_at) if isinstance(expires_at, int | float) else None)


def save_login(url: str, token: str, username: str, expires_at: float | None) -> Path:
    path = credentials_path()
    data = _read_credentials(path)
    data[normalize_url(url)] = {"token": token, "username": username, "expires_at": expires_at}
    _write_credentials(path, data)
    return path


def forget_login(url: str) -> bool:
    """Delete the login saved for this URL (the file goes when it holds no other); False if there was none."""
    path = credentials_path()
    data = _read_credentials(path)
    if data.pop(normalize_url(url), None) is None:
        return False
    _write_credentials(path, data)
    return True


# ---------------------------------------------------------------------------------------------- requests


def quote(segment: str) -> str:
    """One path segment (a webhook name, a client id) with every reserved character escaped."""
    return urllib.parse.quote(segment, safe="")


class Client:
    """Requests to one node. ``auth`` is the ``Authorization`` header (None: send none)."""

    def __init__(self, url: str, auth: str | None = None, timeout: float = TIMEOUT) -> None:
        self.url = normalize_url(url)
        self.auth = auth
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, query: Sequence[tuple[str, Any]] = (),
                auth: str | None = None) -> Any:
        """Send a request to ``/api/v1<path>`` and return the decoded JSON answer (None for 204).

        Raises:
            ApiError: an HTTP error answer.
            ConnectError: no answer.
        """
        params = [(key, str(value).lower() if isinstance(value, bool) else str(value))
                  for key, value in query if value is not None]
        target = f"{self.url}{API}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        request = urllib.request.Request(target, method=method, headers={"Accept": "application/json"})
        if body is not None:
            request.data = orjson.dumps(body)
            request.add_header("Content-Type", "application/json")
        authorization = auth or self.auth
        if authorization:
            request.add_header("Authorization", authorization)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as exc:
            raise self._error(exc.code, str(exc.reason), _read(exc)) from None
        except urllib.error.URLError as exc:
            raise ConnectError(self._unreachable(exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:  # reset, timeout while reading, not HTTP
            raise ConnectError(self._unreachable(exc)) from None
        if status == 204 or not data:
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ApiError(status, "BAD_RESPONSE", f"{target}: the answer is not JSON; is {self.url} a hookmq "
                                                   f"node?") from None

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=list(query.items()))

    def post(self, path: str, body: Any = None, **query: Any) -> Any:
        return self.request("POST", path, body, query=list(query.items()))

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def _error(self, status: int, reason: str, body: bytes) -> ApiError:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            errors = data.get("errors")
            return ApiError(status, str(data.get("code", "ERROR")), data["message"],
                            [str(e) for e in errors] if isinstance(errors, list) else [])
        text = body.decode("utf-8", "replace").strip()[:200]
        return ApiError(status, "ERROR", f"HTTP {status} {reason} from {self.url}" + (f": {text}" if text else "")
                        + " (is it a hookmq node?)")

    def _unreachable(self, reason: object) -> str:
        if isinstance(reason, ConnectionRefusedError):
            what = "connection refused"
        elif isinstance(reason, socket.gaierror):
            what = f"unknown host ({reason.strerror})"
        elif isinstance(reason, TimeoutError):
            what = f"no answer within {self.timeout:g} s"
        else:
            what = str(reason) or type(reason).__name__
        return (f"cannot reach hookmq at {self.url}: {what}. Is hookmq running? Give its HTTP address with "
                f"--url URL (--broker URL on webhook create/update/test) or HOOKMQ_URL; the default is {DEFAULT_URL}")


def _read(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except (OSError, http.client.HTTPException):
        return b""
