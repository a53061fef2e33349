"""The webhook endpoints against a real node and a real receiver: create/read/update/delete, enable/disable,
Test (saved and unsaved), metrics, the delivery log, dead letters and replay, validation errors naming the
field, 404s, read-only config-file webhooks, and secrets that never appear in any response."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from hookmq.api import models as m
from hookmq.webhooks.model import generate_secret
from tests.api.client import Api
from tests.api.conftest import api_of, fill, operations
from tests.helpers import BrokerThread, raw_client, wait_for
from tests.webhooks.receiver import Receiver, Request, free_port
from tests.webhooks.test_delivery import publish

SECRET = generate_secret()
TOKEN = "tok-" + secrets.token_hex(16)
FAST_RETRY = {"initial_backoff": "10ms", "max_backoff": "50ms", "max_attempts": 2}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def config(receiver: Receiver, name: str = "hook", **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": receiver.url, "events": ["message.publish"], "topics": ["t/#"],
            "headers": {"content-type": "application/json", "Authorization": f"Bearer {TOKEN}"},
            "secret": SECRET, "retry": FAST_RETRY, **extra}


def echo(request: Request) -> tuple[int, dict[str, str], bytes]:
    """A receiver that shows the caller what it got (as many debugging endpoints do)."""
    return 200, {}, orjson.dumps(request.headers)


def assert_no_secret(api: Api) -> None:
    """No response this client ever got holds the signing secret or the credential header."""
    assert api.log
    for response in api.log:
        for secret in (SECRET, SECRET.removeprefix("whsec_"), TOKEN):
            assert secret.encode() not in response.body, response.text


def check_webhook(data: dict[str, Any]) -> None:
    assert data["secret"] == "******" and data["headers"]["authorization"] == "******"
    m.WebhookMetrics.model_validate(data["metrics"])


def test_crud_enable_disable(api: Api, receiver: Receiver, node: BrokerThread) -> None:
    created = api.ok("POST", "/api/v1/webhooks", config(receiver), status=201)
    check_webhook(created)
    assert (created["source"], created["read_only"], created["enable"]) == ("api", False, True)
    assert [w["name"] for w in api.ok("GET", "/api/v1/webhooks")] == ["hook"]
    got = api.ok("GET", "/api/v1/webhooks/hook")
    check_webhook(got)
    assert m.QueueStats.model_validate(got["queue"]).queued == 0

    # what the API showed can be sent back: the masks keep the secret and the credential header
    shown = {k: v for k, v in got.items() if k not in ("source", "read_only", "status", "status_reason", "metrics",
                                                        "queue")}
    updated = api.ok("PUT", "/api/v1/webhooks/hook", {**shown, "description": "edited", "method": "PUT"})
    assert updated["description"] == "edited" and updated["method"] == "PUT"
    kept = node.call(lambda: node.node.webhooks.config("hook"))  # type: ignore[union-attr]
    assert kept.secret == SECRET and kept.headers["authorization"] == f"Bearer {TOKEN}"
    without_name = {k: v for k, v in shown.items() if k != "name"}
    assert api.ok("PUT", "/api/v1/webhooks/hook", without_name)["method"] == "POST"

    disabled = api.ok("POST", "/api/v1/webhooks/hook/disable")
    assert disabled["enable"] is False and disabled["status"] == "disabled"
    assert api.ok("POST", "/api/v1/webhooks/hook/enable")["enable"] is True

    api.ok("DELETE", "/api/v1/webhooks/hook", status=204)
    api.get("/api/v1/webhooks/hook").error(404, "NOT_FOUND")
    api.delete("/api/v1/webhooks/hook").error(404)
    assert api.ok("GET", "/api/v1/webhooks") == []
    assert_no_secret(api)


def test_validation_errors_name_the_fields(api: Api, receiver: Receiver) -> None:
    errors = api.post("/api/v1/webhooks", {}).error(400, "BAD_REQUEST")["errors"]
    assert any("name" in line for line in errors) and any("url" in line for line in errors)
    errors = api.post("/api/v1/webhooks", {"name": "bad name!", "url": "ftp://x/", "events": ["nope"],
                                           "retry": {"factor": 99}}).error(400)["errors"]
    for field in ("name", "url", "events", "retry.factor"):
        assert any(line.split(":")[0].endswith(field) for line in errors), (field, errors)
    bad_secret = api.post("/api/v1/webhooks", config(receiver, secret=SECRET[:-8] + "!!!!!!!!")).error(400)
    assert "secret" in bad_secret["errors"][0]
    assert api.post("/api/v1/webhooks", [config(receiver)]).error(400)["errors"] == [
        "body: must be an object, got an array"]
    api.post("/api/v1/webhooks", raw=b"").error(400)
    api.post("/api/v1/webhooks", config(receiver, typo=1)).error(400)

    api.ok("POST", "/api/v1/webhooks", config(receiver), status=201)
    api.post("/api/v1/webhooks", config(receiver)).error(409, "CONFLICT")
    errors = api.put("/api/v1/webhooks/hook", {**config(receiver), "name": "other"}).error(400)["errors"]
    assert any("name" in line for line in errors)
    errors = api.put("/api/v1/webhooks/hook", {"url": "nope"}).error(400)["errors"]
    assert any("url" in line for line in errors)
    assert_no_secret(api)


def test_unknown_webhooks_are_404_on_every_endpoint(api: Api, receiver: Receiver,
                                                     openapi_doc: dict[str, Any]) -> None:
    ops = [(method, path) for method, path, _ in operations(openapi_doc) if "/webhooks/{name}" in path]
    assert len(ops) == 11
    for method, path in ops:
        body = {"ids": []} if path.endswith("replay") else config(receiver) if method in ("POST", "PUT") else None
        response = api.request(method, fill(path, "ghost"), body)
        assert "ghost" in response.error(404, "NOT_FOUND")["message"], (method, path)


def test_config_file_webhooks_are_read_only(start_broker: Callable[..., BrokerThread], receiver: Receiver) -> None:
    node = start_broker(webhooks=[config(receiver, name="filed")])
    api = api_of(node)
    info = api.ok("GET", "/api/v1/webhooks/filed")
    assert (info["source"], info["read_only"]) == ("file", True)
    check_webhook(info)
    assert "config file" in api.put("/api/v1/webhooks/filed", config(receiver, name="filed")).error(
        403, "FORBIDDEN")["message"]
    api.delete("/api/v1/webhooks/filed").error(403)
    assert api.ok("POST", "/api/v1/webhooks/filed/disable")["enable"] is False  # until the restart
    assert_no_secret(api)


def test_test_endpoints_send_a_real_request(api: Api, receiver: Receiver) -> None:
    receiver.respond(echo)
    result = api.ok("POST", "/api/v1/webhooks/test", config(receiver, name="draft"), model=m.TestResult)
    assert result["ok"] is True and result["status"] == 200 and result["outcome"] == "success"
    sent = dict(result["request"]["headers"])
    assert sent["webhook-test"] == "true" and sent["authorization"] == "******"
    assert receiver.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"  # the real value went out
    assert api.ok("GET", "/api/v1/webhooks") == []  # nothing saved

    connected = api.ok("POST", "/api/v1/webhooks/test?event=client.connected", config(receiver, name="draft"))
    assert orjson.loads(receiver.requests[-1].body)["event"] == "client.connected" and connected["ok"]
    errors = api.post("/api/v1/webhooks/test?event=nope", config(receiver, name="draft")).error(400)
    assert "nope" in errors["message"]
    assert any("url" in line for line in api.post("/api/v1/webhooks/test", {"name": "x"}).error(400)["errors"])

    down = {**config(receiver, name="draft"), "url": f"http://127.0.0.1:{free_port()}/"}
    refused = api.ok("POST", "/api/v1/webhooks/test", down, model=m.TestResult)
    assert refused["ok"] is False and refused["status"] is None and refused["error"]

    api.ok("POST", "/api/v1/webhooks", config(receiver), status=201)
    receiver.respond((503, {}, b"busy"))
    saved = api.ok("POST", "/api/v1/webhooks/hook/test", model=m.TestResult)
    assert (saved["ok"], saved["status"], saved["outcome"], saved["body"]) == (False, 503, "retry", "busy")
    api.ok("POST", "/api/v1/webhooks/hook/test", {}, model=m.TestResult)  # {} = the saved settings
    receiver.respond(echo)
    changed = api.ok("POST", "/api/v1/webhooks/hook/test", {"url": receiver.url + "changed", "secret": "******",
                                                             "headers": {"authorization": "******"}})
    assert changed["ok"] and receiver.requests[-1].path == "/changed"
    assert receiver.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
    log = api.ok("GET", "/api/v1/webhooks/hook/deliveries?outcome=test")
    assert [entry["status"] for entry in log] == [200, 503, 503]
    assert_no_secret(api)


def test_deliveries_metrics_and_reset(api: Api, receiver: Receiver, node: BrokerThread) -> None:
    receiver.respond(echo)
    api.ok("POST", "/api/v1/webhooks", config(receiver), status=201)
    publish(node.port, "t/1", [b"a", b"b", b"c"])
    publish(node.port, "other", [b"ignored"])
    receiver.wait_count(3)
    metrics = wait_for(lambda: (got := api.ok("GET", "/api/v1/webhooks/hook/metrics"))["success"] == 3 and got,
                       message="3 successes")
    m.WebhookMetrics.model_validate(metrics)
    assert metrics["matched"] == 3 and metrics["status"] == "connected"

    log = api.ok("GET", "/api/v1/webhooks/hook/deliveries")
    assert [entry["outcome"] for entry in log] == ["success"] * 3
    [m.DeliveryAttempt.model_validate(entry) for entry in log]
    assert len(api.ok("GET", "/api/v1/webhooks/hook/deliveries?limit=1&outcome=success")) == 1
    assert api.ok("GET", "/api/v1/webhooks/hook/deliveries?outcome=failed") == []
    assert api.get("/api/v1/webhooks/hook/deliveries?limit=0").error(400)["errors"][0].startswith("limit:")
    assert api.get("/api/v1/webhooks/hook/deliveries?limit=ten").error(400)["errors"][0].startswith("limit:")
    assert api.get("/api/v1/webhooks/hook/deliveries?outcome=bogus").error(400)["errors"][0].startswith("outcome:")

    reset = api.ok("POST", "/api/v1/webhooks/hook/metrics/reset", model=m.WebhookMetrics)
    assert reset["success"] == reset["matched"] == 0
    assert api.ok("GET", "/api/v1/stats")["webhooks"]["total"] == 1
    assert_no_secret(api)


def test_dead_letters_and_replay(api: Api, receiver: Receiver, node: BrokerThread) -> None:
    receiver.respond(lambda request: (400, {}, orjson.dumps(request.headers)))  # fails at once, echoing
    api.ok("POST", "/api/v1/webhooks", config(receiver), status=201)
    publish(node.port, "t/dead", [b"1", b"2", b"3"])
    page = wait_for(lambda: len((got := api.ok("GET", "/api/v1/webhooks/hook/dead-letters"))["data"]) == 3
                    and got, message="3 dead letters")
    m.DeadLetterPage.model_validate(page)
    assert [row["payload"]["payload"] for row in page["data"]] == ["1", "2", "3"]
    assert all(row["status"] == 400 and "******" in row["response"] for row in page["data"])
    second = api.ok("GET", "/api/v1/webhooks/hook/dead-letters?limit=1&offset=1")
    assert second["meta"] == {"limit": 1, "offset": 1, "count": 1, "total": 3}
    assert second["data"][0]["delivery_id"] == page["data"][1]["delivery_id"]
    api.get("/api/v1/webhooks/hook/dead-letters?offset=-1").error(400)
    failed = api.ok("GET", "/api/v1/webhooks/hook/deliveries?outcome=failed")
    assert len(failed) == 3 and all("******" in entry["response"] for entry in failed)

    receiver.respond(200)
    api.post("/api/v1/webhooks/hook/dead-letters/replay", {"ids": "x"}).error(400)
    first = page["data"][0]["delivery_id"]
    assert api.ok("POST", "/api/v1/webhooks/hook/dead-letters/replay", {"ids": [first]}) == {"replayed": 1}
    wait_for(lambda: [e["payload"] for e in receiver.events()] == ["1"], message="the replayed one")
    assert api.ok("POST", "/api/v1/webhooks/hook/dead-letters/replay") == {"replayed": 2}  # no body: all
    receiver.wait_count(3)
    assert api.ok("GET", "/api/v1/webhooks/hook/dead-letters")["meta"]["total"] == 0
    assert_no_secret(api)


def test_no_response_of_any_endpoint_holds_a_secret(api: Api, receiver: Receiver, node: BrokerThread,
                                                    openapi_doc: dict[str, Any]) -> None:
    """Every GET, and the webhook operations, with a receiver that echoes what it is sent."""
    receiver.respond(echo)
    api.ok("POST", "/api/v1/webhooks", config(receiver), status=201)
    api.ok("POST", "/api/v1/webhooks/test", config(receiver, name="draft"))
    api.ok("POST", "/api/v1/webhooks/hook/test")
    publish(node.port, "t/echo", [b"x"])
    receiver.wait_count(1)
    for method, path, _ in operations(openapi_doc):
        if method == "GET" and "stream" not in path:
            api.get(fill(path, "hook"))
    with raw_client(node.port) as client:
        client.connect("reader")
        api.get("/metrics")
        api.ok("GET", "/api/v1/clients")
    assert_no_secret(api)


def test_webhook_names_in_paths_are_url_decoded(api: Api, receiver: Receiver) -> None:
    api.ok("POST", "/api/v1/webhooks", config(receiver, name="a-b_c"), status=201)
    assert api.ok("GET", "/api/v1/webhooks/" + quote("a-b_c", safe="").replace("-", "%2D"))["name"] == "a-b_c"
