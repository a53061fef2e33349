"""The broker endpoints with real MQTT clients: stats, clients (paging, filters, kick), subscriptions, retained
messages (list, delete with URL-encoded topics), publish (plain, base64, MQTT 5 properties, validation),
MQTT users of the password file, the event catalogue and stream, Prometheus metrics."""

from __future__ import annotations

import base64
import http.client
from collections.abc import Callable
from pathlib import Path

import pytest

from hookmq.api import models as m
from hookmq.broker.auth import PasswordFile
from hookmq.events.catalogue import CATALOGUE
from hookmq.mqtt import (
    Connack,
    Disconnect,
    PropertyId,
    ProtocolVersion,
    Publish,
    Suback,
    Subscribe,
    Subscription,
)
from tests.api.client import Api
from tests.api.conftest import api_of
from tests.helpers import BrokerThread, RawClient, raw_client, wait_for

V5 = ProtocolVersion.MQTT_5


def subscribe(client: RawClient, *filters: str, qos: int = 1) -> None:
    client.send(Subscribe(packet_id=1, subscriptions=tuple(Subscription(topic_filter=f, qos=qos) for f in filters)))
    ack = client.recv()
    assert isinstance(ack, Suback), ack


def test_stats_count_what_the_broker_holds(api: Api, node: BrokerThread) -> None:
    with raw_client(node.port) as client:
        client.connect("stats-client")
        subscribe(client, "a/#", "$share/g/b")
        api.ok("POST", "/api/v1/publish", {"topic": "keep", "payload": "x", "retain": True})
        stats = api.ok("GET", "/api/v1/stats", model=m.Stats)
    assert (stats["connections"], stats["sessions"], stats["subscriptions"], stats["shared_subscriptions"],
            stats["retained"]) == (1, 1, 2, 1, 1)
    assert stats["messages_received"] == 1 and stats["uptime"] >= 0
    assert stats["webhooks"] == {"total": 0, "enabled": 0, "by_status": {}, "matched": 0, "success": 0, "failed": 0,
                                 "dropped": 0, "queuing": 0, "inflight": 0}


def test_clients_paging_filters_and_kick(api: Api, node: BrokerThread) -> None:
    clients = [RawClient(node.port, V5) for _ in range(3)]
    try:
        for n, client in enumerate(clients):
            client.connect(f"dev/{n}", username=f"user{n % 2}", keep_alive=30)
        subscribe(clients[0], "x/1", "x/2")
        page = api.ok("GET", "/api/v1/clients", model=m.ClientPage)
        assert [c["clientid"] for c in page["data"]] == ["dev/0", "dev/1", "dev/2"]
        first = page["data"][0]
        assert (first["username"], first["proto_ver"], first["keepalive"], first["subscriptions"]) == (
            "user0", 5, 30, 2)
        assert first["peername"].startswith("127.0.0.1:") and first["connected_at"] > 0
        second = api.ok("GET", "/api/v1/clients?limit=1&offset=1")
        assert [c["clientid"] for c in second["data"]] == ["dev/1"]
        assert second["meta"] == {"limit": 1, "offset": 1, "count": 1, "total": 3}
        assert [c["clientid"] for c in api.ok("GET", "/api/v1/clients?clientid=dev/2")["data"]] == ["dev/2"]
        assert [c["clientid"] for c in api.ok("GET", "/api/v1/clients?username=user1")["data"]] == ["dev/1"]
        assert api.ok("GET", "/api/v1/clients?like_clientid=v/")["meta"]["total"] == 3
        for bad in ("limit=0", "limit=1001", "offset=-1", "limit=abc"):
            field = bad.split("=")[0]
            assert api.get(f"/api/v1/clients?{bad}").error(400)["errors"][0].startswith(f"{field}:")

        api.ok("DELETE", "/api/v1/clients/dev%2F1", status=204)
        assert clients[1].recv_until_closed() == [Disconnect(reason_code=0x98)]
        wait_for(lambda: api.ok("GET", "/api/v1/clients")["meta"]["total"] == 2, message="kicked client gone")
        api.delete("/api/v1/clients/dev%2F1").error(404, "NOT_FOUND")
        api.ok("DELETE", "/api/v1/clients/dev/2", status=204)  # a raw slash works too
    finally:
        for client in clients:
            client.close()


def test_subscriptions(api: Api, node: BrokerThread) -> None:
    with raw_client(node.port, V5) as one, raw_client(node.port) as two:
        one.connect("one")
        two.connect("two")
        subscribe(one, "s/+/t", "$share/grp/s/#", qos=2)
        subscribe(two, "s/+/t", qos=0)
        page = api.ok("GET", "/api/v1/subscriptions", model=m.SubscriptionPage)
        assert [(s["clientid"], s["topic"], s["qos"], s["share_group"]) for s in page["data"]] == [
            ("one", "$share/grp/s/#", 2, "grp"), ("one", "s/+/t", 2, None), ("two", "s/+/t", 0, None)]
        assert all(s["connected"] for s in page["data"])
        assert api.ok("GET", "/api/v1/subscriptions?clientid=two")["meta"]["total"] == 1
        assert api.ok("GET", "/api/v1/subscriptions?topic=s/%2B/t")["meta"]["total"] == 2
        assert api.ok("GET", "/api/v1/subscriptions?clientid=nobody")["data"] == []


def test_retained_list_filter_and_delete(api: Api, node: BrokerThread) -> None:
    binary = bytes(range(250, 256))
    api.ok("POST", "/api/v1/publish", {"topic": "r/1", "payload": "one", "retain": True, "qos": 1})
    api.ok("POST", "/api/v1/publish", {"topic": "r/2/x", "payload": base64.b64encode(binary).decode(),
                                       "payload_encoding": "base64", "retain": True})
    api.ok("POST", "/api/v1/publish", {"topic": "/lead", "payload": "slash", "retain": True})
    page = api.ok("GET", "/api/v1/retained", model=m.RetainedPage)
    assert [(r["topic"], r["payload"], r["payload_encoding"], r["qos"]) for r in page["data"]] == [
        ("/lead", "slash", "plain", 0), ("r/1", "one", "plain", 1),
        ("r/2/x", base64.b64encode(binary).decode(), "base64", 0)]
    assert page["data"][1]["from_clientid"] == "http_api" and page["data"][2]["payload_size"] == 6
    assert [r["topic"] for r in api.ok("GET", "/api/v1/retained?topic=r/%2B")["data"]] == ["r/1"]
    assert api.get("/api/v1/retained?topic=r/%23/x").error(400)["errors"][0].startswith("topic:")

    api.ok("DELETE", "/api/v1/retained/r%2F1", status=204)
    api.delete("/api/v1/retained/r%2F1").error(404, "NOT_FOUND")
    api.ok("DELETE", "/api/v1/retained/r/2/x", status=204)
    api.ok("DELETE", "/api/v1/retained/%2Flead", status=204)
    assert api.ok("GET", "/api/v1/retained")["data"] == []
    with raw_client(node.port) as late:  # really gone, not just hidden
        late.connect("late")
        subscribe(late, "#")
        late.expect_silence(0.2)


def test_publish_reaches_subscribers(api: Api, node: BrokerThread) -> None:
    with raw_client(node.port, V5) as sub:
        sub.connect("sub")
        subscribe(sub, "p/#", qos=1)
        result = api.ok("POST", "/api/v1/publish", {
            "topic": "p/1", "payload": "hello", "qos": 1,
            "properties": {"content_type": "text/plain", "user_properties": {"k": "v"}, "response_topic": "p/r",
                           "message_expiry_interval": 60, "correlation_data": "c"}}, model=m.PublishResult)
        assert result["matched"] == 1 and len(result["id"]) == 32
        got = sub.recv()
        assert isinstance(got, Publish) and (got.topic, got.payload, got.qos) == ("p/1", b"hello", 1)
        assert got.properties[PropertyId.CONTENT_TYPE] == "text/plain"
        assert got.properties[PropertyId.USER_PROPERTY] == [("k", "v")]
        assert got.properties[PropertyId.CORRELATION_DATA] == b"c"
        assert 0 < got.properties[PropertyId.MESSAGE_EXPIRY_INTERVAL] <= 60
        api.ok("POST", "/api/v1/publish", {"topic": "p/2", "payload": "AAEC/w==", "payload_encoding": "base64"})
        got = sub.recv()
        assert isinstance(got, Publish) and got.payload == b"\x00\x01\x02\xff"
    assert api.ok("POST", "/api/v1/publish", {"topic": "nobody/listens"})["matched"] == 0


@pytest.mark.parametrize(("body", "field"), [
    ({}, "topic"),
    ({"topic": "a/+"}, "topic"),
    ({"topic": ""}, "topic"),
    ({"topic": "$SYS/x"}, "topic"),
    ({"topic": "a", "qos": 3}, "qos"),
    ({"topic": "a", "retain": "yes"}, "retain"),
    ({"topic": "a", "payload": "***", "payload_encoding": "base64"}, "payload"),
    ({"topic": "a", "payload_encoding": "hex"}, "payload_encoding"),
    ({"topic": "a", "properties": {"message_expiry_interval": -1}}, "properties.message_expiry_interval"),
    ({"topic": "a", "properties": {"response_topic": "r/#"}}, "properties.response_topic"),
    ({"topic": "a", "properties": {"user_properties": {"k": 1}}}, "properties.user_properties.k"),
    ({"topic": "a", "extra": 1}, "extra"),
    ({"topic": "a\u0000b"}, "topic"),
])
def test_publish_validation_names_the_field(api: Api, body: dict[str, object], field: str) -> None:
    errors = api.post("/api/v1/publish", body).error(400, "BAD_REQUEST")["errors"]
    assert any(line.startswith(f"{field}:") for line in errors), errors


def test_publish_limits_of_the_broker(start_broker: Callable[..., BrokerThread]) -> None:
    node = start_broker(mqtt={"max_packet_size": 1024, "max_topic_levels": 3, "retain_available": False})
    api = api_of(node)
    for body, field in (({"topic": "a", "payload": "x" * 2000}, "payload"), ({"topic": "a/b/c/d"}, "topic"),
                        ({"topic": "a", "retain": True}, "retain")):
        assert api.post("/api/v1/publish", body).error(400)["errors"][0].startswith(f"{field}:")
    assert api.post("/api/v1/publish", raw=b'{"topic": "a", "payload": "' + b"x" * 2_000_000 + b'"}').error(
        413, "PAYLOAD_TOO_LARGE")


def test_users_need_a_password_file(api: Api) -> None:
    for method, path, body in (("GET", "/api/v1/users", None), ("POST", "/api/v1/users", {"username": "a",
                                                                                          "password": "b"}),
                               ("PUT", "/api/v1/users/a", {"password": "b"}), ("DELETE", "/api/v1/users/a", None)):
        message = api.request(method, path, body).error(409, "NOT_CONFIGURED")["message"]
        assert "authentication.password_file" in message


def test_users_of_the_password_file(start_broker: Callable[..., BrokerThread], tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    PasswordFile(path).save()
    node = start_broker(authentication={"password_file": str(path), "allow_anonymous": False})
    api = api_of(node)
    assert api.ok("GET", "/api/v1/users") == []
    assert api.ok("POST", "/api/v1/users", {"username": "alice", "password": "wonder"}, status=201,
                  model=m.User) == {"username": "alice"}
    api.post("/api/v1/users", {"username": "alice", "password": "again"}).error(409, "CONFLICT")
    assert api.ok("GET", "/api/v1/users") == [{"username": "alice"}]
    assert "alice" in PasswordFile(path).usernames()

    def connects(password: bytes) -> bool:
        with raw_client(node.port) as client:
            ack = client.connect("alice-device", username="alice", password=password)
            assert isinstance(ack, Connack)
            return ack.reason_code == 0

    assert connects(b"wonder") and not connects(b"wrong")
    api.ok("PUT", "/api/v1/users/alice", {"password": "land"}, model=m.User)
    assert connects(b"land") and not connects(b"wonder")
    api.put("/api/v1/users/bob", {"password": "x"}).error(404)

    assert api.post("/api/v1/users", {"username": "a:b", "password": "x"}).error(400)["errors"][0].startswith(
        "username:")
    assert api.post("/api/v1/users", {"username": "carol", "password": ""}).error(400)["errors"][0].startswith(
        "password:")
    api.ok("DELETE", "/api/v1/users/alice", status=204)
    api.delete("/api/v1/users/alice").error(404)
    assert not connects(b"land")


def test_event_catalogue(api: Api) -> None:
    specs = api.ok("GET", "/api/v1/events")
    assert [s["name"] for s in specs] == [s.name for s in CATALOGUE]
    for spec in specs:
        m.EventSpec.model_validate(spec)
        assert spec["example"]["event"] == spec["name"]


def test_event_stream_with_credentials(api: Api, node: BrokerThread) -> None:
    assert api.get("/api/v1/events/stream?topic=a/%23/b").error(400)["errors"] == ["topic: invalid filter"]
    assert "nope" in api.get("/api/v1/events/stream?event=nope").error(400)["message"]
    conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=10)
    try:
        conn.request("GET", "/api/v1/events/stream?event=client.connected", headers={"Authorization": api.auth})
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Type") == "application/x-ndjson"
        assert response.readline() == b'{"stream":"started"}\n'
        with raw_client(node.port) as client:
            client.connect("streamed")
        line = response.readline()
        assert b'"clientid":"streamed"' in line and b'"event":"client.connected"' in line
    finally:
        conn.close()


def test_prometheus_metrics_with_an_api_key(api: Api) -> None:
    response = api.get("/metrics")
    assert response.status == 200 and "hookmq_messages_received_total" in response.text
