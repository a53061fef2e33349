"""Login, logout, the admin's password and API keys."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from . import models as m
from .auth import PRINCIPAL
from .context import Context
from .errors import ApiError, json_response
from .keystore import ADMIN_USERNAME, AuthStoreError
from .routing import API, Endpoint, Input, Reply

__all__ = ["endpoints"]

log = logging.getLogger("hookmq.api")

T = TypeVar("T")

NO_CONTENT = {204: Reply(description="done", schema=None)}


def _address(request: web.Request) -> str:
    return request.remote or "unknown"


def endpoints(ctx: Context) -> list[Endpoint]:
    auth = ctx.auth
    store = auth.store

    def too_many(address: str) -> None:
        wait = auth.limiter.retry_after(address)
        if wait is not None:
            seconds = math.ceil(wait)
            raise ApiError(429, f"too many failed logins from this address; try again in {seconds} s",
                           headers={"Retry-After": str(seconds)})

    async def store_call(fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args)
        except AuthStoreError as exc:
            log.error("API auth store: %s", exc)
            raise ApiError(500, str(exc)) from None

    async def login(request: web.Request, args: Input) -> web.StreamResponse:
        body: m.LoginRequest = args.body
        address = _address(request)
        too_many(address)
        await store_call(store.refresh)
        if not await asyncio.to_thread(store.verify_admin, body.username, body.password):
            auth.limiter.failed(address)
            log.warning("API login failed from %s", address)
            raise ApiError(401, "wrong username or password", "BAD_USERNAME_OR_PWD")
        auth.limiter.succeeded(address)
        token, expires_at = auth.tokens.issue(body.username)
        log.info("API login of %r from %s", body.username, address)
        return json_response({"token": token, "expires_at": round(expires_at, 3), "username": body.username,
                              "password_change_required": store.admin_password_change_required()})

    async def logout(request: web.Request, _: Input) -> web.StreamResponse:
        principal = request[PRINCIPAL]
        if principal.token_hash is not None:
            auth.tokens.revoke(principal.token_hash)
        return web.Response(status=204)

    async def change_password(request: web.Request, args: Input) -> web.StreamResponse:
        body: m.PasswordChange = args.body
        if auth.password_managed_by_config:
            raise ApiError(409, "the admin password is set by api.admin_password (HOOKMQ_ADMIN_PASSWORD); "
                                "change it there and restart")
        address = _address(request)
        too_many(address)
        await store_call(store.refresh)
        if not await asyncio.to_thread(store.verify_admin, ADMIN_USERNAME, body.old_password):
            auth.limiter.failed(address)
            raise ApiError(400, "the old password is wrong", errors=["old_password: wrong password"])
        if body.new_password == body.old_password:
            raise ApiError(400, "the new password must differ from the old one",
                           errors=["new_password: same as old_password"])
        await store_call(store.set_admin_password, body.new_password)
        principal = request[PRINCIPAL]
        ended = auth.tokens.revoke_user(ADMIN_USERNAME, keep=principal.token_hash)
        log.info("API: the admin password was changed (%d other sessions ended)", ended)
        return web.Response(status=204)

    async def list_keys(request: web.Request, _: Input) -> web.StreamResponse:
        await store_call(store.refresh)
        return json_response([key.to_dict() for key in store.api_keys()])

    async def create_key(request: web.Request, args: Input) -> web.StreamResponse:
        body: m.ApiKeyCreate = args.body
        api_key, secret = await store_call(store.create_api_key, body.name)
        log.info("API key %s created", api_key.id)
        return json_response({**api_key.to_dict(), "secret": secret}, status=201)

    async def delete_key(request: web.Request, _: Input) -> web.StreamResponse:
        key_id = request.match_info["id"]
        if not await store_call(store.delete_api_key, key_id):
            raise ApiError(404, f"no API key with id {key_id!r}")
        log.info("API key %s deleted", key_id)
        return web.Response(status=204)

    return [
        Endpoint(method="POST", path=f"{API}/login", handler=login, summary="Log in", tag="auth", public=True,
                 description="Returns a bearer token for `Authorization: Bearer <token>`. The dashboard admin is "
                             "`admin`; its default password `public` must be changed (PUT /password) before any "
                             "other endpoint answers. Failed logins are limited per client address (429).",
                 body=m.LoginRequest, errors=(400, 401, 429),
                 replies={200: Reply(description="logged in", schema=m.LoginResponse)}),
        Endpoint(method="POST", path=f"{API}/logout", handler=logout, summary="Log out (end this token)",
                 tag="auth", during_password_change=True, replies=NO_CONTENT),
        Endpoint(method="PUT", path=f"{API}/password", handler=change_password, tag="auth",
                 summary="Change the dashboard admin's password", during_password_change=True,
                 description="At least 8 characters, not `public`. Other sessions of the admin end.",
                 body=m.PasswordChange, errors=(400, 409, 429), replies=NO_CONTENT),
        Endpoint(method="GET", path=f"{API}/api-keys", handler=list_keys, summary="List API keys", tag="auth",
                 replies={200: Reply(description="keys (never their secrets)",
                                     schema={"type": "array", "items": m.ApiKeyInfo})}),
        Endpoint(method="POST", path=f"{API}/api-keys", handler=create_key, summary="Create an API key",
                 tag="auth", description="The secret is in this response only. Use the key as HTTP Basic "
                                         "`key:secret` (e.g. Prometheus `basic_auth`, `curl -u key:secret`).",
                 body=m.ApiKeyCreate, body_required=False, errors=(400,),
                 replies={201: Reply(description="the new key, with its secret", schema=m.ApiKeyCreated)}),
        Endpoint(method="DELETE", path=f"{API}/api-keys/{{id}}", handler=delete_key, summary="Delete an API key",
                 tag="auth", path_params={"id": "the key's id"}, errors=(404,), replies=NO_CONTENT),
    ]
