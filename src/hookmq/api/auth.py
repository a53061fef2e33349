"""Who is calling: bearer tokens from ``POST /login``, API keys as HTTP Basic, and the login rate limit.

* Tokens are random (256 bits), live only in memory (a restart logs everyone out) and expire after
  ``api.token_ttl``. They travel in ``Authorization: Bearer`` only, never in a cookie, so a page on another
  site cannot make a browser send one: the API is CSRF-safe without CSRF tokens. They are kept by their
  SHA-256, so looking one up leaks nothing useful through timing.
* API keys are ``key:secret`` pairs sent as HTTP Basic (Prometheus, scripts, ``hookmq`` commands); see
  `hookmq.api.keystore`. A 401 never carries a ``Basic`` challenge, so a browser never pops up its own
  login box (which would also make it remember and resend the credentials).
* Failed logins are counted per client address; past ``api.login_max_failures`` within ``api.login_window``
  the address gets 429 with ``Retry-After`` until the oldest failure ages out. API keys need no such limit:
  their secrets are 256 random bits. The address is the TCP peer: behind a reverse proxy, every client shares
  the proxy's address (forwarded headers are not trusted, they are trivially forged).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from hookmq.config import ApiSettings

from .errors import ApiError
from .keystore import ADMIN_USERNAME, AuthStore, AuthStoreError
from .routing import ENDPOINTS

__all__ = ["PRINCIPAL", "ApiAuth", "LoginLimiter", "Principal", "TokenStore", "auth_middleware"]

log = logging.getLogger("hookmq.api")

MAX_TOKENS: Final = 10_000  # live tokens; the oldest are dropped beyond this (a login flood cannot eat memory)
MAX_TRACKED_ADDRESSES: Final = 10_000
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["token", "api_key"]
    name: str  # the username, or the API key's key
    token_hash: str | None = None


PRINCIPAL: Final = web.RequestKey("principal", Principal)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True)
class _Token:
    username: str
    expires_at: float  # unix seconds


class TokenStore:
    """Live login tokens, by SHA-256 of the token."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self._clock = clock
        self._tokens: dict[str, _Token] = {}

    def issue(self, username: str) -> tuple[str, float]:
        self._prune()
        token = secrets.token_urlsafe(32)
        expires_at = self._clock() + self.ttl
        self._tokens[_hash(token)] = _Token(username, expires_at)
        while len(self._tokens) > MAX_TOKENS:
            del self._tokens[next(iter(self._tokens))]
        return token, expires_at

    def check(self, token: str) -> tuple[str, _Token] | None:
        digest = _hash(token)
        found = self._tokens.get(digest)
        if found is None:
            return None
        if found.expires_at <= self._clock():
            del self._tokens[digest]
            return None
        return digest, found

    def revoke(self, digest: str) -> None:
        self._tokens.pop(digest, None)

    def revoke_user(self, username: str, keep: str | None = None) -> int:
        """End every session of ``username`` except ``keep`` (a token hash); returns how many ended."""
        doomed = [d for d, t in self._tokens.items() if t.username == username and d != keep]
        for digest in doomed:
            del self._tokens[digest]
        return len(doomed)

    def _prune(self) -> None:
        now = self._clock()
        for digest in [d for d, t in self._tokens.items() if t.expires_at <= now]:
            del self._tokens[digest]


class LoginLimiter:
    """At most ``max_failures`` failed logins per address within ``window`` seconds."""

    def __init__(self, max_failures: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None when it may try now."""
        failures = self._recent(address)
        if failures is None or len(failures) < self.max_failures:
            return None
        return max(failures[0] + self.window - self._clock(), 0.001)

    def failed(self, address: str) -> None:
        failures = self._recent(address)
        if failures is None:
            if len(self._failures) >= MAX_TRACKED_ADDRESSES:
                self._forget_stale()
            failures = self._failures[address] = deque(maxlen=self.max_failures)
        failures.append(self._clock())

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _recent(self, address: str) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        cutoff = self._clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def _forget_stale(self) -> None:
        cutoff = self._clock() - self.window
        for address in [a for a, f in self._failures.items() if not f or f[-1] <= cutoff]:
            del self._failures[address]
        while len(self._failures) >= MAX_TRACKED_ADDRESSES:  # all recent: drop the oldest tracked
            del self._failures[next(iter(self._failures))]


class ApiAuth:
    """The dashboard admin, API keys, tokens and the login limiter of one node."""

    def __init__(self, settings: ApiSettings, data_dir: Path) -> None:
        self.settings = settings
        self.store = AuthStore(data_dir)
        self.tokens = TokenStore(settings.token_ttl)
        self.limiter = LoginLimiter(settings.login_max_failures, settings.login_window)

    @property
    def password_managed_by_config(self) -> bool:
        return self.settings.admin_password is not None

    def start(self) -> None:
        """Create the admin on first start, apply ``api.admin_password``. Blocking (argon2): call it off-loop.

        Raises:
            AuthStoreError: the store file is unreadable or cannot be written.
        """
        password = self.settings.admin_password
        self.store.ensure_admin(None if password is None else password.get_secret_value())

    def _refresh(self) -> None:
        try:
            self.store.refresh()
        except AuthStoreError as exc:
            log.error("keeping the previous API keys and admin password: %s", exc)

    def authenticate(self, request: web.Request) -> Principal:
        """The caller, from ``Authorization``; ApiError 401 when it is missing or wrong."""
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        scheme = scheme.lower()
        credentials = credentials.strip()
        if scheme == "bearer" and credentials:
            found = self.tokens.check(credentials)
            if found is None:
                raise _unauthorized("the token is unknown or has expired; log in again (POST /api/v1/login)")
            digest, token = found
            return Principal("token", token.username, digest)
        if scheme == "basic" and credentials:
            try:
                key, sep, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                key, sep, secret = "", "", ""
            if sep:
                self._refresh()
                api_key = self.store.check_api_key(key, secret)
                if api_key is not None:
                    return Principal("api_key", api_key.key)
            raise _unauthorized("wrong API key or secret (HTTP Basic key:secret; see `hookmq apikey create`)")
        raise _unauthorized("credentials required: 'Authorization: Bearer <token>' from POST /api/v1/login, "
                            "or an API key as HTTP Basic key:secret")

    def must_change_password(self, principal: Principal) -> bool:
        if principal.kind != "token" or principal.name != ADMIN_USERNAME:
            return False
        self._refresh()
        return self.store.admin_password_change_required()


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": 'Bearer realm="hookmq"'})


def _cross_site(request: web.Request) -> bool:
    """A browser request made by a page of another origin (Fetch Metadata, or Origin not this host)."""
    if request.headers.get("Sec-Fetch-Site", "") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc.lower() != request.host.lower()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_middleware(auth: ApiAuth) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        endpoint = request.app[ENDPOINTS].get(request.match_info.route)
        if endpoint is None or endpoint.public:  # unknown paths fall through to a JSON 404/405
            return await handler(request)
        principal = auth.authenticate(request)
        # Defence in depth for Basic: a browser may have remembered key:secret typed into its address bar and
        # would attach it to a forged cross-site form POST. Tokens are never attached by a browser on its own.
        if principal.kind == "api_key" and request.method in UNSAFE_METHODS and _cross_site(request):
            raise ApiError(403, "cross-site request refused", "CROSS_SITE_REQUEST")
        if not endpoint.during_password_change and auth.must_change_password(principal):
            raise ApiError(403, "the default admin password must be changed first: PUT /api/v1/password "
                                "{old_password, new_password}", "PASSWORD_CHANGE_REQUIRED")
        request[PRINCIPAL] = principal
        return await handler(request)

    return middleware
