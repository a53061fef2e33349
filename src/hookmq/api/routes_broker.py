"""The broker over HTTP: statistics, clients (and kicking them), subscriptions, retained messages, publishing,
and the MQTT users of the password file. Handlers run on the broker's event loop, so they read its state
directly; lists are sorted so that ``limit``/``offset`` pages are stable."""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from aiohttp import web

from hookmq import __version__
from hookmq.broker import Broker
from hookmq.broker.auth import AuthConfigError, PasswordFile
from hookmq.broker.clientinfo import ConnState
from hookmq.broker.message import Message
from hookmq.broker.session import Session
from hookmq.events.builders import format_peer
from hookmq.mqtt import PropertyId

from . import models as m
from .context import Context
from .errors import ApiError, json_response
from .routing import API, Endpoint, Input, Reply

__all__ = ["endpoints"]

P = PropertyId
NO_CONTENT = {204: Reply(description="done")}


def page(items: Sequence[dict[str, Any]], query: m.Page) -> dict[str, Any]:
    chunk = list(items[query.offset:query.offset + query.limit])
    return {"data": chunk, "meta": {"limit": query.limit, "offset": query.offset, "count": len(chunk),
                                    "total": len(items)}}


def _connected(broker: Broker) -> Iterator[tuple[Any, Session]]:
    for conn in broker.connections:
        session = conn.session
        if session is not None and conn.state == ConnState.CONNECTED:
            yield conn, session


def _client(conn: Any, session: Session) -> dict[str, Any]:
    c = conn.client
    return {"clientid": c.clientid, "username": c.username, "peername": format_peer(c.peername),
            "listener": c.listener, "proto_name": c.proto_name, "proto_ver": c.proto_ver, "keepalive": c.keepalive,
            "clean_start": c.clean_start, "expiry_interval": session.expiry_interval,
            "connected_at": c.connected_at, "subscriptions": len(session.subscriptions),
            "inflight": len(session.inflight), "queued": len(session.queue)}


def _retained(message: Message) -> dict[str, Any]:
    try:
        payload, encoding = message.payload.decode(), "plain"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(message.payload).decode(), "base64"
    return {"topic": message.topic, "qos": message.qos, "payload": payload, "payload_encoding": encoding,
            "payload_size": len(message.payload), "from_clientid": message.from_clientid,
            "from_username": message.from_username, "published_at": message.received_at,
            "expires_at": message.expires_at}


def _properties(props: m.PublishProperties) -> dict[int, Any]:
    out: dict[int, Any] = {}
    if props.content_type is not None:
        out[P.CONTENT_TYPE] = props.content_type
    if props.response_topic is not None:
        out[P.RESPONSE_TOPIC] = props.response_topic
    if props.correlation_data is not None:
        out[P.CORRELATION_DATA] = props.correlation_data.encode()
    if props.payload_format_indicator is not None:
        out[P.PAYLOAD_FORMAT_INDICATOR] = props.payload_format_indicator
    if props.user_properties:
        out[P.USER_PROPERTY] = list(props.user_properties.items())
    return out


def endpoints(ctx: Context) -> list[Endpoint]:
    broker = ctx.broker

    def webhook_summary() -> dict[str, Any]:
        infos = ctx.webhooks.webhooks()
        totals = Counter[str]()
        for info in infos:
            metrics = info["metrics"]
            for key in ("matched", "success", "failed", "dropped", "queuing", "inflight"):
                totals[key] += int(metrics.get(key, 0))
        return {"total": len(infos), "enabled": sum(bool(info.get("enable")) for info in infos),
                "by_status": dict(Counter(str(info.get("status")) for info in infos)),
                **{key: totals[key] for key in ("matched", "success", "failed", "dropped", "queuing", "inflight")}}

    async def stats(request: web.Request, _: Input) -> web.StreamResponse:
        return json_response({
            "node": broker.settings.node_name, "version": __version__,
            "uptime": int(time.time() - broker.started_at), **broker.stats.as_dict(),
            "sessions": len(broker.sessions), "subscriptions": broker.subscriptions.count,
            "shared_subscriptions": broker.subscriptions.shared_count, "retained": len(broker.retained),
            "webhooks": webhook_summary()})

    async def clients(request: web.Request, args: Input) -> web.StreamResponse:
        query: m.ClientsQuery = args.query
        found = []
        for conn, session in _connected(broker):
            c = conn.client
            if query.clientid is not None and c.clientid != query.clientid:
                continue
            if query.like_clientid is not None and query.like_clientid not in c.clientid:
                continue
            if query.username is not None and c.username != query.username:
                continue
            found.append(_client(conn, session))
        found.sort(key=lambda client: client["clientid"])
        return json_response(page(found, query))

    async def kick(request: web.Request, _: Input) -> web.StreamResponse:
        clientid = request.match_info["clientid"]
        if not broker.kick(clientid):
            raise ApiError(404, f"no connected client {clientid!r}")
        return web.Response(status=204)

    async def subscriptions(request: web.Request, args: Input) -> web.StreamResponse:
        query: m.SubscriptionsQuery = args.query
        if query.clientid is not None:
            session = broker.sessions.get(query.clientid)
            sessions = [session] if session is not None else []
        else:
            sessions = sorted(broker.sessions.values(), key=lambda s: s.clientid)
        found = []
        for session in sessions:
            for topic, opts in sorted(session.subscriptions.items()):
                if query.topic is not None and topic != query.topic:
                    continue
                found.append({"clientid": session.clientid, "topic": topic, "qos": opts.qos,
                              "no_local": opts.no_local, "retain_as_published": opts.retain_as_published,
                              "retain_handling": opts.retain_handling, "share_group": opts.share_group,
                              "subscription_id": opts.subscription_id,
                              "connected": session.connection is not None})
        return json_response(page(found, query))

    async def retained(request: web.Request, args: Input) -> web.StreamResponse:
        query: m.RetainedQuery = args.query
        now = time.time()
        found = sorted((msg for msg in broker.retained.match(query.topic) if not msg.expired(now)),
                       key=lambda msg: msg.topic)
        return json_response(page([_retained(msg) for msg in found], query))

    async def delete_retained(request: web.Request, _: Input) -> web.StreamResponse:
        topic = request.match_info["topic"]
        if not broker.delete_retained(topic):
            raise ApiError(404, f"no retained message on {topic!r}")
        return web.Response(status=204)

    async def publish(request: web.Request, args: Input) -> web.StreamResponse:
        body: m.PublishRequest = args.body
        mqtt = broker.settings.mqtt
        errors = []
        if body.retain and not mqtt.retain_available:
            errors.append("retain: retained messages are disabled (mqtt.retain_available = false)")
        if mqtt.max_topic_levels and body.topic.count("/") >= mqtt.max_topic_levels:
            errors.append(f"topic: more than mqtt.max_topic_levels ({mqtt.max_topic_levels}) levels")
        payload = body.payload_bytes()
        if len(payload) > mqtt.max_packet_size:
            errors.append(f"payload: {len(payload)} bytes, more than mqtt.max_packet_size ({mqtt.max_packet_size})")
        if errors:
            raise ApiError(400, "cannot publish: " + "; ".join(errors), errors=errors)
        interval = body.properties.message_expiry_interval
        now = time.time()
        message = Message(broker.next_message_id(), body.topic, payload, body.qos, body.retain,
                          _properties(body.properties), body.clientid, None, ("", 0), int(now * 1000),
                          None if interval is None else now + interval)
        matched = broker.publish(message)
        return json_response({"id": message.id.hex(), "matched": matched})

    def password_file() -> PasswordFile:
        pwfile = broker.password_file
        if pwfile is None:
            raise ApiError(409, "no MQTT password file is configured: set authentication.password_file "
                                "(HOOKMQ_AUTHENTICATION__PASSWORD_FILE) and restart", "NOT_CONFIGURED")
        return pwfile

    async def users(request: web.Request, _: Input) -> web.StreamResponse:
        pwfile = password_file()
        try:
            names = await asyncio.to_thread(pwfile.usernames)
        except (AuthConfigError, OSError) as exc:
            raise ApiError(500, f"cannot read the password file: {exc}") from None
        return json_response([{"username": name} for name in names])

    async def save_user(pwfile: PasswordFile, username: str, password: str) -> None:
        def work() -> None:
            try:
                pwfile.add(username, password)
                pwfile.save()
            except BaseException:
                pwfile.load()  # drop the unsaved edit, or the file would never be re-read
                raise

        try:
            await asyncio.to_thread(work)
        except (AuthConfigError, OSError) as exc:
            raise ApiError(500, f"cannot update the password file: {exc}") from None

    async def create_user(request: web.Request, args: Input) -> web.StreamResponse:
        body: m.UserCreate = args.body
        pwfile = password_file()
        if body.username in await asyncio.to_thread(pwfile.usernames):
            raise ApiError(409, f"user {body.username!r} exists; PUT /api/v1/users/{{username}} sets its password")
        await save_user(pwfile, body.username, body.password)
        return json_response({"username": body.username}, status=201)

    async def set_password(request: web.Request, args: Input) -> web.StreamResponse:
        body: m.UserPassword = args.body
        username = request.match_info["username"]
        pwfile = password_file()
        if username not in await asyncio.to_thread(pwfile.usernames):
            raise ApiError(404, f"no user {username!r}")
        await save_user(pwfile, username, body.password)
        return json_response({"username": username})

    async def delete_user(request: web.Request, _: Input) -> web.StreamResponse:
        username = request.match_info["username"]
        pwfile = password_file()

        def work() -> bool:
            try:
                if not pwfile.remove(username):
                    return False
                pwfile.save()
            except BaseException:
                pwfile.load()
                raise
            return True

        try:
            removed = await asyncio.to_thread(work)
        except (AuthConfigError, OSError) as exc:
            raise ApiError(500, f"cannot update the password file: {exc}") from None
        if not removed:
            raise ApiError(404, f"no user {username!r}")
        return web.Response(status=204)

    username = {"username": "the MQTT username"}
    return [
        Endpoint(method="GET", path=f"{API}/stats", handler=stats, summary="Broker statistics", tag="broker",
                 description="The $SYS counters, sessions, subscriptions, retained messages and a webhook summary.",
                 replies={200: Reply(description="statistics", schema=m.Stats)}),
        Endpoint(method="GET", path=f"{API}/clients", handler=clients, summary="Connected clients", tag="broker",
                 query=m.ClientsQuery, errors=(400,),
                 replies={200: Reply(description="a page of clients, by client id", schema=m.ClientPage)}),
        Endpoint(method="DELETE", path=f"{API}/clients/{{clientid:.+}}", handler=kick, summary="Kick a client",
                 tag="broker", description="Disconnects it (MQTT 5: DISCONNECT 0x98, administrative action); "
                                           "a persistent session stays.",
                 path_params={"clientid": "the client id (URL-encoded)"}, errors=(404,), replies=NO_CONTENT),
        Endpoint(method="GET", path=f"{API}/subscriptions", handler=subscriptions, summary="Subscriptions",
                 tag="broker", description="Of every session, connected or not.", query=m.SubscriptionsQuery,
                 errors=(400,), replies={200: Reply(description="a page of subscriptions",
                                                    schema=m.SubscriptionPage)}),
        Endpoint(method="GET", path=f"{API}/retained", handler=retained, summary="Retained messages", tag="broker",
                 query=m.RetainedQuery, errors=(400,),
                 replies={200: Reply(description="a page of retained messages, by topic", schema=m.RetainedPage)}),
        Endpoint(method="DELETE", path=f"{API}/retained/{{topic:.+}}", handler=delete_retained,
                 summary="Delete a retained message", tag="broker",
                 path_params={"topic": "the topic, URL-encoded (t%2F1)"}, errors=(404,), replies=NO_CONTENT),
        Endpoint(method="POST", path=f"{API}/publish", handler=publish, summary="Publish a message", tag="broker",
                 description="Routed like a client's PUBLISH (events and webhooks included), from client id "
                             "`clientid`.", body=m.PublishRequest, errors=(400,),
                 replies={200: Reply(description="published", schema=m.PublishResult)}),
        Endpoint(method="GET", path=f"{API}/users", handler=users, summary="MQTT users", tag="users",
                 description="The users of authentication.password_file (409 when none is configured).",
                 errors=(409,), replies={200: Reply(description="usernames",
                                                    schema={"type": "array", "items": m.User})}),
        Endpoint(method="POST", path=f"{API}/users", handler=create_user, summary="Add an MQTT user", tag="users",
                 description="Saved in the password file as an argon2id hash; the broker uses it at once.",
                 body=m.UserCreate, errors=(400, 409), replies={201: Reply(description="added", schema=m.User)}),
        Endpoint(method="PUT", path=f"{API}/users/{{username:.+}}", handler=set_password, tag="users",
                 summary="Set an MQTT user's password", path_params=username, body=m.UserPassword,
                 errors=(400, 404, 409), replies={200: Reply(description="changed", schema=m.User)}),
        Endpoint(method="DELETE", path=f"{API}/users/{{username:.+}}", handler=delete_user, tag="users",
                 summary="Remove an MQTT user", path_params=username, errors=(404, 409), replies=NO_CONTENT),
    ]
