"""Webhook delivery end to end: real broker, real MQTT clients, a real HTTP receiver."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from standardwebhooks.webhooks import Webhook

from hookmq.events.catalogue import get as event_spec
from hookmq.webhooks import delivery
from hookmq.webhooks.model import generate_secret
from tests.helpers import BrokerThread, require_tool, wait_for
from tests.webhooks.receiver import Receiver

PAGE_EVENTS = ["client.connected", "client.connack", "client.check_authz_complete", "message.publish",
               "message.dropped", "client.disconnected"]


def publish(port: int, topic: str, payloads: list[bytes], qos: int = 1, client_id: str = "pub") -> None:
    """Publish with paho (MQTT 5) and wait for every acknowledgement."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=qos) for payload in payloads]
        for info in infos:
            info.wait_for_publish(20)
    finally:
        client.disconnect()
        client.loop_stop()


def snapshot(node: BrokerThread, name: str = "hook") -> dict[str, Any]:
    return node.call(lambda: node.node.webhooks.metrics(name))  # type: ignore[union-attr]


def accounted(metrics: dict[str, Any]) -> bool:
    """delivery.md: matched = success + failed + dropped + queuing + inflight."""
    return bool(metrics["matched"] == metrics["success"] + metrics["failed"] + metrics["dropped"]
                + metrics["queuing"] + metrics["inflight"])


def test_get_started_all_events_reach_the_receiver_in_order(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    """The seed page's Get Started: one mosquitto_pub, every event with EMQX's fields, in order."""
    node = hooked_broker(name="my_webhook", events=["all"], ordering="client")
    subprocess.run([require_tool("mosquitto_pub"), "-p", str(node.port), "-i", "emqx_c", "-t", "t/1",
                    "-m", '{ "msg": "Hello Webhook" }'], check=True, timeout=10)
    events = receiver.wait_count(7)
    names = [event["event"] for event in events]
    # EMQX >= 5.7.2 also sends client.check_authn_complete first; the page predates it.
    assert names == ["client.check_authn_complete", *PAGE_EVENTS]
    for event in events:
        assert event["metadata"] == {"rule_id": "my_webhook_WH_D"}
        assert event["clientid"] == "emqx_c"
        assert set(event) == {*event_spec(event["event"]).example, "metadata"}, event["event"]
    publish_event = events[names.index("message.publish")]
    assert publish_event["payload"] == '{ "msg": "Hello Webhook" }'
    assert publish_event["topic"] == "t/1"
    assert events[names.index("message.dropped")]["reason"] == "no_subscribers"
    assert all(request.headers["content-type"] == "application/json" for request in receiver.requests)
    wait_for(lambda: accounted(m := snapshot(node, "my_webhook")) and m["success"] == 7, message="metrics settle")


def test_signed_requests_verify_with_the_standardwebhooks_package(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    secret = generate_secret()
    node = hooked_broker(secret=secret)
    publish(node.port, "t/signed", [b"one", "zwei \u00fc".encode(), b'{"n": 3}'])
    receiver.wait_count(3)
    verifier = Webhook(secret)
    ids = set()
    for request in receiver.requests:
        verified = verifier.verify(request.body, request.headers)
        assert verified["event"] == "message.publish"
        ids.add(request.headers["webhook-id"])
    assert len(ids) == 3


def test_rotating_secrets_sign_with_each(hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    new, old = generate_secret(), generate_secret()
    node = hooked_broker(secret=f"{new} {old}")
    publish(node.port, "t/rotate", [b"x"])
    receiver.wait_count(1)
    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split()) == 2
    for secret in (new, old):  # receivers holding either secret accept the request
        assert Webhook(secret).verify(request.body, request.headers)["payload"] == "x"


def test_base64_payload_keeps_binary_bytes(hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    node = hooked_broker(payload_encoding="base64")
    binary = bytes(range(256))
    publish(node.port, "t/bin", [binary])
    (event,) = receiver.wait_count(1)
    assert base64.b64decode(event["payload"]) == binary


def test_body_template_url_and_headers_are_rendered(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    node = hooked_broker(url=receiver.url + "devices/${clientid}?topic=${topic}",
                         headers={"content-type": "application/json", "x-qos": "${qos}"},
                         body='{"device": "${clientid}", "temp": ${payload.temp}, "lit": "$${x}"}')
    publish(node.port, "room/1", [b'{"temp": 21.5}'], client_id="sensor-7")
    wait_for(lambda: receiver.requests, message="a request")
    (request,) = receiver.requests
    assert request.path == "/devices/sensor-7?topic=room/1"
    assert request.headers["x-qos"] == "1"
    assert request.json() == {"device": "sensor-7", "temp": 21.5, "lit": "${x}"}


def test_retryable_answers_are_retried_until_delivered(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    answers = iter([503, 429, 500] * 3)
    receiver.respond(lambda request: next(answers, 200))
    node = hooked_broker()
    publish(node.port, "t/retry", [b"%d" % n for n in range(20)])
    events = receiver.wait_count(20)
    assert sorted(event["payload"] for event in events) == sorted(str(n) for n in range(20))
    metrics = wait_for(lambda: (m := snapshot(node))["success"] == 20 and m, message="20 successes")
    assert metrics["retried"] >= 9 and metrics["failed"] == 0 and accounted(metrics)


def test_rejected_event_becomes_a_dead_letter_and_replay_delivers_it(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    receiver.respond((400, {}, b"bad request: no temp"))
    node = hooked_broker()
    service = node.node.webhooks  # type: ignore[union-attr]
    publish(node.port, "t/bad", [b"broken"])
    wait_for(lambda: snapshot(node)["failed"] == 1, message="failed counted")
    assert len(receiver.rejected) == 1  # not retried
    dead = node.run(service.dead_letters("hook"))
    assert [(d["status"], d["response"], d["payload"]["payload"]) for d in dead] == [
        (400, "bad request: no temp", "broken")]
    log = service.delivery_log("hook")
    assert log[0]["outcome"] == "failed" and log[0]["status"] == 400
    receiver.respond(200)
    assert node.run(service.replay("hook")) == 1
    (event,) = receiver.wait_count(1)
    assert event["payload"] == "broken"
    assert receiver.requests[0].headers["webhook-id"] == receiver.rejected[0].headers["webhook-id"] == \
        dead[0]["delivery_id"]
    wait_for(lambda: accounted(m := snapshot(node)) and m["success"] == 1, message="metrics settle")
    assert node.run(service.dead_letters("hook")) == []


def test_gone_disables_the_webhook(hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    receiver.respond(410)
    node = hooked_broker()
    service = node.node.webhooks  # type: ignore[union-attr]
    publish(node.port, "t/gone", [b"x"])
    info = wait_for(lambda: (i := node.call(lambda: service.info("hook")))["enable"] is False and i,
                    message="webhook disabled")
    assert info["status"] == "disabled"
    assert "410" in info["status_reason"]
    publish(node.port, "t/gone", [b"y"])  # not matched any more
    assert snapshot(node)["matched"] == 1


def test_batches_carry_many_events_each_with_its_own_id(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    node = hooked_broker(batch_size=50, batch_time="200ms")
    publish(node.port, "t/batch", [b"%d" % n for n in range(200)])
    events = receiver.wait_count(200)
    assert sorted(int(event["payload"]) for event in events) == list(range(200))
    assert len(receiver.requests) < 50
    assert all(isinstance(request.json(), list) for request in receiver.requests)
    assert len({event["metadata"]["delivery_id"] for event in events}) == 200


def test_prometheus_metrics_expose_the_webhook(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    from tests.helpers import http_get

    node = hooked_broker()
    publish(node.port, "t/metrics", [b"a", b"b"])
    receiver.wait_count(2)
    wait_for(lambda: snapshot(node)["success"] == 2, message="successes")
    text = http_get(node.http_port, "/metrics", node.settings.data_dir).decode()
    assert 'hookmq_webhook_success_total{webhook="hook"} 2.0' in text
    assert 'hookmq_webhook_status{status="connected",webhook="hook"} 1.0' in text
    assert "hookmq_messages_received_total" in text


def test_events_held_in_memory_stay_within_their_byte_bound(
        hooked_broker: Callable[..., BrokerThread], receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Claimed and leased-ahead events wait in memory; their bodies never exceed HOLD_BYTES (the rest waits on
    disk), whatever the payload size, and the accounting returns to zero once everything is delivered."""
    monkeypatch.setattr(delivery, "HOLD_BYTES", 100_000)
    receiver.delay = 0.01
    node = hooked_broker(max_inflight=2)
    runtime = node.call(lambda: node.node.webhooks._entries["hook"].runtime)  # type: ignore[union-attr]
    held: list[int] = []
    payloads = [b"%04d" % n + b"x" * 10_000 for n in range(100)]
    publish(node.port, "t/big", payloads)
    while len(receiver.requests) < 100:
        held.append(node.call(lambda: runtime._held_bytes))
    assert sorted(event["payload"] for event in receiver.wait_count(100)) == [p.decode() for p in payloads]
    assert max(held) <= 100_000 + 11_000  # one lease may end with a body past the bound
    wait_for(lambda: node.call(lambda: runtime._held_bytes) == 0, message="nothing held once all is sent")
