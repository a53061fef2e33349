"""The dashboard's other promises, each in a real browser against a real node: API validation errors at the
fields they name, config-file webhooks read-only, untrusted text (payloads, response bodies, client ids)
shown as text, dead letters replayed, clients kicked, retained messages deleted, logout and expired logins."""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.dashboard.conftest import ADMIN_PASSWORD, base_url, log_in, nav, node_call
from tests.helpers import BrokerThread, wait_for
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import publish

XSS = '<img src=x onerror="document.title=\'pwned\'">'


def field_error(page: Page, name: str) -> Locator:
    """The error line under the form field named like the API's error lines (``url``, ``retry.max_backoff``)."""
    return page.locator(f'[data-field="{name}"] .field-error')


def create_webhook(node: BrokerThread, **config: object) -> None:
    node.run(node.node.webhooks.create({"retry": {"initial_backoff": "10ms", "max_backoff": "100ms"}, **config}))


def assert_no_markup_ran(page: Page) -> None:
    assert page.title() != "pwned"
    expect(page.locator("img[src=x]")).to_have_count(0)


def test_validation_errors_are_shown_at_their_fields(page: Page, node: BrokerThread, receiver: Receiver) -> None:
    log_in(page, node, route="webhooks/new")
    expect(page.get_by_role("heading", name="Create webhook")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("my webhook")
    page.get_by_label("URL", exact=True).fill("ftp://example.com/")
    page.get_by_label("Selected messages and events").check()
    page.get_by_label("Message published").check()
    page.get_by_label("Connection established").check()
    page.get_by_role("button", name="+ Add topic filter").click()
    page.get_by_label("Topic filter", exact=True).fill("t/#/x")
    page.get_by_text("Advanced settings").click()
    page.get_by_label("Connection pool size").fill("0")
    page.get_by_label("Max backoff").fill("1ms")
    page.get_by_text("Advanced settings").click()  # closed again: an error inside opens it
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_test_id("form-errors")).to_contain_text("Please correct the highlighted settings.")
    expect(field_error(page, "name")).to_contain_text("must start with a letter or digit")
    expect(field_error(page, "url")).to_contain_text("http:// or https://")
    expect(field_error(page, "topics")).to_contain_text("not a valid MQTT topic filter")
    expect(field_error(page, "pool_size")).to_contain_text("at least 1")
    expect(page.get_by_label("Connection pool size")).to_be_visible()
    expect(page.get_by_label("Connection pool size")).to_have_attribute("aria-invalid", "true")
    expect(field_error(page, "retry.max_backoff")).to_contain_text("must be at least initial_backoff")
    expect(field_error(page, "description")).to_be_empty()
    assert node_call(node, lambda n: n.webhooks.names()) == []

    # Test validates the same way, before sending anything
    page.get_by_label("Name", exact=True).fill("my_webhook")
    page.get_by_role("button", name="Test", exact=True).click()
    expect(field_error(page, "name")).to_be_empty()  # the Test's own answer replaced the errors
    expect(field_error(page, "url")).to_contain_text("http:// or https://")
    assert receiver.requests == []

    page.get_by_label("URL", exact=True).fill(receiver.url)
    page.get_by_label("Topic filter", exact=True).fill("t/#")
    page.get_by_label("Connection pool size").fill("4")
    page.get_by_label("Max backoff").fill("2m")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="my_webhook")).to_be_visible()
    config = node_call(node, lambda n: n.webhooks.config("my_webhook"))
    assert (config.events, config.topics, config.pool_size, config.retry.max_backoff) == (
        ["message.publish", "client.connected"], ["t/#"], 4, 120.0)


def test_edit_keeps_secrets_and_shows_fields_of_the_chosen_events(page: Page, node: BrokerThread,
                                                                  receiver: Receiver) -> None:
    create_webhook(node, name="signed", url=receiver.url, events=["session.subscribed"],
                   headers={"authorization": "Bearer top-secret-token"}, secret="whsec_" + "A" * 44)
    log_in(page, node, route="webhooks/signed/edit")
    expect(page.get_by_label("Selected messages and events")).to_be_checked()
    expect(page.get_by_label("Subscribed", exact=True)).to_be_checked()
    fields = page.get_by_label("Event fields")
    expect(fields.get_by_role("button", name="topic", exact=True)).to_be_visible()
    expect(fields.get_by_role("button", name="payload", exact=True)).to_have_count(0)  # not a subscribe field
    page.get_by_label("Message published").check()
    expect(fields.get_by_role("button", name="payload", exact=True)).to_be_visible()
    body = page.get_by_label("Body template")
    body.fill('{"who": "')
    fields.get_by_role("button", name="clientid", exact=True).click()
    body.press("End")
    body.type('"}')
    expect(body).to_have_value('{"who": "${clientid}"}')
    expect(page.get_by_label("Header value")).to_have_value("******")
    page.get_by_text("Advanced settings").click()
    expect(page.get_by_label("Signing secret")).to_have_value("******")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="signed")).to_be_visible()
    config = node_call(node, lambda n: n.webhooks.config("signed"))
    assert config.headers == {"authorization": "Bearer top-secret-token"}  # "******" kept the secret
    assert config.secret == "whsec_" + "A" * 44
    assert config.events == ["message.publish", "session.subscribed"] and config.body == '{"who": "${clientid}"}'

    # a new secret from the Generate button is a valid Standard Webhooks secret
    page.get_by_role("link", name="Settings").click()
    page.get_by_text("Advanced settings").click()
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_label("Signing secret")).to_have_value(re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$"))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="signed")).to_be_visible()
    assert node_call(node, lambda n: n.webhooks.config("signed").secret) != "whsec_" + "A" * 44


def test_config_file_webhook_is_read_only(page: Page, start_broker: Callable[..., BrokerThread],
                                          receiver: Receiver) -> None:
    node = start_broker(api={"admin_password": ADMIN_PASSWORD},
                        webhooks=[{"name": "from_file", "url": receiver.url, "events": ["message.publish"]}])
    log_in(page, node, route="webhooks")
    row = page.get_by_role("row").filter(has_text="from_file")
    expect(row.get_by_text("config file")).to_be_visible()
    expect(row.get_by_role("button", name="Delete from_file")).to_have_count(0)
    row.get_by_role("link", name="View").click()

    expect(page.get_by_role("note")).to_contain_text("Read-only")
    expect(page.get_by_label("URL", exact=True)).to_be_disabled()
    expect(page.get_by_label("Name", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    page.get_by_role("button", name="Test", exact=True).click()  # testing is still allowed
    expect(page.get_by_test_id("test-result")).to_contain_text("200 OK")
    wait_for(lambda: receiver.requests, message="the Test request")

    page.get_by_role("link", name="from_file").click()
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    page.get_by_role("switch", name="Enabled").uncheck()  # enable/disable works until the restart
    expect(page.get_by_role("status").filter(has_text="until the node restarts")).to_be_visible()
    wait_for(lambda: node_call(node, lambda n: not n.webhooks.config("from_file").enable), message="disabled")


def test_untrusted_text_is_shown_as_text(page: Page, node: BrokerThread, receiver: Receiver) -> None:
    receiver.respond((400, {"x-evil": XSS}, XSS.encode()))  # 400: a failed delivery, then a dead letter
    create_webhook(node, name="hook", url=receiver.url, events=["message.publish"], topics=["t/1"])
    publish(node.port, "t/1", [XSS.encode()], client_id=XSS)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="retainer", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", node.port)
    client.loop_start()
    client.publish("t/evil", XSS, qos=1, retain=True).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()

    log_in(page, node, route="webhooks/hook")
    log = page.get_by_role("table", name="Delivery log")
    expect(log.get_by_role("row").filter(has_text="failed")).to_contain_text(XSS)
    page.get_by_role("tab", name="Dead letters (1)").click()
    page.get_by_role("table", name="Dead letters").get_by_role("button", name="event").click()
    expect(page.get_by_role("dialog")).to_contain_text(f'"clientid": "{XSS.replace(chr(34), chr(92) + chr(34))}"')
    page.get_by_role("dialog").get_by_role("button", name="Close").click()
    page.get_by_role("button", name="Test", exact=True).click()
    result = page.get_by_test_id("test-result")
    expect(result).to_contain_text("400 Bad Request")
    expect(result).to_contain_text("A real delivery would fail at once")
    expect(result.get_by_test_id("test-response-body")).to_have_text(XSS)
    result.get_by_text("Response headers").click()
    expect(result.get_by_role("cell", name=XSS)).to_be_visible()

    nav(page, "Retained")
    expect(page.get_by_role("row").filter(has_text="t/evil")).to_contain_text(XSS)
    assert_no_markup_ran(page)


def test_dead_letters_replay_reset_and_delete(page: Page, node: BrokerThread, receiver: Receiver) -> None:
    receiver.respond(400)  # not retryable: each event is a dead letter at once
    create_webhook(node, name="hook", url=receiver.url, events=["message.publish"])
    publish(node.port, "t/1", [b"one", b"two", b"three"])
    log_in(page, node, route="webhooks/hook")
    expect(page.get_by_test_id("metric-failed").locator(".stat-value")).to_have_text("3")
    page.get_by_role("tab", name="Dead letters (3)").click()
    dead = page.get_by_role("table", name="Dead letters")
    expect(dead.get_by_role("row")).to_have_count(4)

    receiver.respond(200)
    dead.get_by_role("checkbox").first.check()
    page.get_by_role("button", name="Replay selected (1)").click()
    receiver.wait_count(1)
    expect(page.get_by_role("tab", name="Dead letters (2)")).to_be_visible()
    page.get_by_role("button", name="Replay all").click()
    receiver.wait_count(3)
    assert sorted(e["payload"] for e in receiver.events()) == ["one", "three", "two"]
    expect(page.get_by_test_id("metric-dead").locator(".stat-value")).to_have_text("0")
    expect(page.get_by_test_id("metric-success").locator(".stat-value")).to_have_text("3")
    expect(dead.get_by_text("No dead letters")).to_be_visible()

    page.get_by_role("button", name="Reset metrics").click()
    page.get_by_role("dialog").get_by_role("button", name="Reset").click()
    expect(page.get_by_test_id("metric-success").locator(".stat-value")).to_have_text("0")
    expect(page.get_by_test_id("metric-matched").locator(".stat-value")).to_have_text("0")

    page.get_by_role("switch", name="Enabled").uncheck()
    expect(page.get_by_text("disabled", exact=True)).to_be_visible()
    page.get_by_role("switch", name="Enabled").check()
    expect(page.get_by_text("disabled", exact=True)).to_have_count(0)

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="No webhooks yet")).to_be_visible()
    assert node_call(node, lambda n: n.webhooks.names()) == []


def test_clients_subscriptions_and_retained(page: Page, node: BrokerThread) -> None:
    gone = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sensor-1", protocol=mqtt.MQTTv5)
    client.reconnect_delay_set(60, 120)  # stay kicked
    client.on_disconnect = lambda *args: gone.set()
    subscribed = threading.Event()
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect("127.0.0.1", node.port, keepalive=30)
    client.loop_start()
    try:
        client.subscribe("sensors/#", qos=1)
        assert subscribed.wait(10)
        client.publish("sensors/1/temp", "21.5", qos=1, retain=True).wait_for_publish(10)

        log_in(page, node, route="clients")
        expect(page.get_by_role("heading", name="Clients")).to_be_visible()
        row = page.get_by_role("row").filter(has_text="sensor-1")
        expect(row).to_contain_text("MQTT 5.0")
        page.get_by_label("Search client id").fill("nomatch")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_text("No client is connected.")).to_be_visible()
        page.get_by_label("Search client id").fill("sensor")
        page.get_by_role("button", name="Search").click()
        expect(row).to_be_visible()

        nav(page, "Subscriptions")
        subscription = page.get_by_role("row").filter(has_text="sensors/#")
        expect(subscription).to_contain_text("sensor-1")
        expect(subscription).to_contain_text("online")

        nav(page, "Retained")
        retained = page.get_by_role("row").filter(has_text="sensors/1/temp")
        expect(retained).to_contain_text("21.5")
        retained.get_by_role("button", name="Delete retained sensors/1/temp").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        expect(page.get_by_text("No retained messages.")).to_be_visible()
        assert node_call(node, lambda n: len(n.broker.retained)) == 0

        nav(page, "Clients")
        page.get_by_role("button", name="Kick sensor-1").click()
        page.get_by_role("dialog").get_by_role("button", name="Kick").click()
        expect(page.get_by_text("No client is connected.")).to_be_visible()
        assert gone.wait(10)
    finally:
        client.loop_stop()


def test_logout_and_expired_login(page: Page, start_broker: Callable[..., BrokerThread]) -> None:
    node = start_broker(api={"admin_password": ADMIN_PASSWORD, "token_ttl": 3})
    log_in(page, node)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    # the token expires while the overview polls: back to the login page, which says why
    expect(page.get_by_role("heading", name="Log in")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("alert")).to_contain_text("Your session has expired")

    # log in again: back where the user was; then log out, which ends the token on the node too
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    token = page.evaluate("sessionStorage.getItem('hookmq.token')")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("alert")).to_contain_text("You have logged out.")
    assert page.evaluate("sessionStorage.getItem('hookmq.token')") is None
    request = urllib.request.Request(f"{base_url(node)}/api/v1/stats", headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401

    # a wrong password is said plainly
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
