"""Run-time management through `WebhookService`: create, update, enable/disable, delete, persistence, Test."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from hookmq.events.catalogue import get as event_spec
from hookmq.webhooks.model import MASK, generate_secret
from hookmq.webhooks.service import STORE_FILE, WebhookError, WebhookService
from tests.helpers import BrokerThread, wait_for
from tests.webhooks.receiver import Receiver, free_port
from tests.webhooks.test_delivery import publish


def service_of(node: BrokerThread) -> WebhookService:
    assert node.node is not None
    return node.node.webhooks


def test_create_update_disable_enable_delete(start_broker: Callable[..., BrokerThread], receiver: Receiver,
                                             tmp_path: Path) -> None:
    data = tmp_path / "node"
    node = start_broker(data)
    service = service_of(node)
    info = node.run(service.create({"name": "rt", "url": receiver.url, "events": ["message.publish"],
                                    "headers": {"authorization": "Bearer hush"}}))
    assert info["source"] == "api" and info["read_only"] is False
    assert info["headers"]["authorization"] == MASK
    publish(node.port, "t/1", [b"first"])
    assert receiver.wait_count(1)[0]["payload"] == "first"
    assert receiver.requests[0].headers["authorization"] == "Bearer hush"

    # An update that sends the mask back keeps the credential; the new topic filter applies at once.
    changed = {**info, "topics": ["only/#"]}
    node.run(service.update("rt", {k: v for k, v in changed.items()
                                   if k not in ("source", "read_only", "status", "status_reason", "metrics")}))
    assert service.config("rt").headers["authorization"] == "Bearer hush"
    publish(node.port, "t/1", [b"filtered out"])
    publish(node.port, "only/x", [b"second"])
    receiver.wait_count(2)
    assert [e["payload"] for e in receiver.events()] == ["first", "second"]
    assert receiver.requests[1].headers["authorization"] == "Bearer hush"

    assert node.run(service.set_enabled("rt", False))["status"] == "disabled"
    publish(node.port, "only/x", [b"while disabled"])
    assert node.run(service.set_enabled("rt", True))["enable"] is True
    publish(node.port, "only/x", [b"third"])
    receiver.wait_count(3)
    assert [e["payload"] for e in receiver.events()] == ["first", "second", "third"]

    saved = (data / STORE_FILE)
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    assert "Bearer hush" in saved.read_text()  # secrets are kept on disk (private file) to survive restarts
    node.stop()

    restarted = start_broker(data)
    service = service_of(restarted)
    assert service.names() == ["rt"] and service.config("rt").topics == ["only/#"]
    node_run = restarted.run
    node_run(service.delete("rt"))
    assert service.names() == []
    with pytest.raises(WebhookError) as err:
        service.info("rt")
    assert err.value.status == 404


def test_invalid_settings_name_each_field(broker: BrokerThread) -> None:
    service = service_of(broker)
    with pytest.raises(WebhookError) as err:
        broker.run(service.create({"name": "bad name", "url": "ftp://x", "events": ["nope"], "secret": "abc"}))
    assert err.value.status == 400
    text = "\n".join(err.value.errors)
    assert "webhooks[bad name].name" in text and "webhooks[bad name].url" in text and "events" in text
    assert "abc" not in text  # a secret never shows in an error


def test_names_are_unique_and_config_file_webhooks_are_read_only(
        start_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    node = start_broker(webhooks=[{"name": "filed", "url": receiver.url}])
    service = service_of(node)
    with pytest.raises(WebhookError) as err:
        node.run(service.create({"name": "filed", "url": receiver.url}))
    assert err.value.status == 409
    for change in (service.update("filed", {"url": receiver.url}), service.delete("filed")):
        with pytest.raises(WebhookError) as err:
            node.run(change)
        assert err.value.status == 403 and "config file" in str(err.value)
    assert node.run(service.set_enabled("filed", False))["status"] == "disabled"  # allowed until restart
    assert service.info("filed")["read_only"] is True


def test_test_sends_a_real_marked_signed_request(start_broker: Callable[..., BrokerThread],
                                                 receiver: Receiver) -> None:
    secret = generate_secret()
    node = start_broker()
    service = service_of(node)
    receiver.respond((201, {"x-receiver": "yes"}, b'{"stored": true}'))
    result = node.run(service.test({"name": "draft", "url": receiver.url + "in", "secret": secret},
                                   event="client.connected"))
    assert result.ok and result.status == 201 and result.outcome == "success"
    assert ("x-receiver", "yes") in result.headers and result.body == '{"stored": true}'
    (request,) = receiver.requests
    assert request.headers["webhook-test"] == "true"
    assert request.path == "/in"
    assert Webhook(secret).verify(request.body, request.headers)["event"] == "client.connected"
    assert request.json()["metadata"] == {"rule_id": "draft_WH_D"}


def test_test_reports_what_went_wrong_in_plain_words(start_broker: Callable[..., BrokerThread],
                                                     receiver: Receiver) -> None:
    node = start_broker(webhooks=[{"name": "saved", "url": receiver.url + "missing"}])
    service = service_of(node)
    receiver.respond((404, {}, b"no such path"))
    result = node.run(service.test(name="saved"))
    assert not result.ok and result.status == 404 and result.outcome == "failed" and result.body == "no such path"
    assert service.delivery_log("saved")[0]["outcome"] == "test"  # shows in the saved webhook's log

    refused: dict[str, Any] = {"name": "nowhere", "url": f"http://127.0.0.1:{free_port()}/"}
    result = node.run(service.test(refused))
    assert result.status is None and result.error is not None and "refused" in result.error
    with pytest.raises(WebhookError) as err:
        node.run(service.test(refused, event="no.such.event"))
    assert err.value.status == 400


def test_queue_budget_overflow_is_counted_and_logged(start_broker: Callable[..., BrokerThread],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    node = start_broker(webhooks=[{"name": "tight", "url": f"http://127.0.0.1:{free_port()}/",
                                   "queue_max_bytes": "1MiB", "retry": {"initial_backoff": "1s"}}])
    publish(node.port, "t/big", [os.urandom(100_000) for _ in range(30)])  # ~3 MB of events into 1 MiB
    metrics = wait_for(lambda: (m := service_of(node).metrics("tight"))["dropped"] >= 15 and m,
                       message="drops counted")
    assert metrics["dropped_by_reason"].keys() == {"queue_full"}
    assert metrics["matched"] == 30 == metrics["dropped"] + metrics["queuing"] + metrics["inflight"]
    drops = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert drops and "webhook tight dropped" in drops[0] and "(queue_full)" in drops[0]
    assert len(drops) <= 2  # once per interval, not once per event


def test_dead_letters_are_capped_and_the_discard_is_logged(start_broker: Callable[..., BrokerThread],
                                                          receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.respond(400)
    node = start_broker(webhooks=[{"name": "capped", "url": receiver.url, "dead_letters_max": 2,
                                   "ordering": "client"}])  # one at a time: a stable order of failures
    service = service_of(node)
    publish(node.port, "t/cap", [b"%d" % n for n in range(5)])
    wait_for(lambda: service.metrics("capped")["failed"] == 5, message="5 failures")
    dead = wait_for(lambda: len(d := node.run(service.dead_letters("capped"))) == 2 and d, message="2 kept")
    assert [letter["payload"]["payload"] for letter in dead] == ["3", "4"]
    assert any("discarded its" in r.getMessage() and "dead_letters_max = 2" in r.getMessage()
               for r in caplog.records)


def test_test_encodes_the_sample_payload_as_configured(start_broker: Callable[..., BrokerThread],
                                                       receiver: Receiver) -> None:
    node = start_broker()
    result = node.run(service_of(node).test({"name": "b64", "url": receiver.url, "payload_encoding": "base64"}))
    assert result.ok
    sent = receiver.requests[0].json()["payload"]
    assert base64.b64decode(sent) == event_spec("message.publish").example.raw
