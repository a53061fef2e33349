"""The issue's path through the dashboard, in a real browser: log in with admin/public, change the default
password, create a webhook through the form, press Test and see the receiver's real answer, save, publish
with a real MQTT client, watch the delivery appear in the log and the counters move, disable, delete.

With ``HOOKMQ_SCREENSHOTS=1`` it also saves the README's screenshots (``docs/screenshots/``), after adding
some traffic and a failing second webhook so that the pictures show what the pages are for.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
from playwright.sync_api import Page, expect

from hookmq.api.keystore import AuthStore
from tests.dashboard.conftest import base_url, nav, node_call, screenshot
from tests.helpers import BrokerThread, wait_for
from tests.webhooks.receiver import Receiver, free_port
from tests.webhooks.test_delivery import publish

NEW_PASSWORD = "my new dashboard password"
FILLED = re.compile(r"^([89]|\d\d+)$")  # samples in a chart worth a picture
RECEIVER_ANSWER = b'{"result": "ok", "message": "success"}'  # what the seed page's Flask receiver answers


def subscriber(port: int, client_id: str, topic: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    subscribed = threading.Event()
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(topic, qos=1)
    assert subscribed.wait(10)
    return client


@contextmanager
def traffic(port: int) -> Iterator[None]:
    """A publisher sending about 40 messages a second to a subscriber until the block ends (screenshots only)."""
    stop = threading.Event()
    analytics = subscriber(port, "analytics", "sensors/#")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sensor-17", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()

    def run() -> None:
        n = 0
        while not stop.wait(0.025):
            n += 1
            client.publish(f"sensors/{n % 4}/temp", f'{{"temp": {20 + n % 7}.5}}', qos=0)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        for each in (client, analytics):
            each.disconnect()
            each.loop_stop()


def test_create_test_publish_watch_disable_delete(page: Page, start_broker: Callable[..., BrokerThread],
                                                  receiver: Receiver) -> None:
    shots = os.environ.get("HOOKMQ_SCREENSHOTS") == "1"
    node = start_broker()  # admin / public, to be changed at first login
    receiver.respond((200, {"content-type": "application/json", "x-receiver": "flask"}, RECEIVER_ANSWER))
    listener = subscriber(node.port, "dashboard-sub", "t/#")
    try:
        # -- log in with the default password, then the forced change
        page.goto(base_url(node) + "/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill("public")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        page.get_by_label("Current password").fill("public")
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        expect(page.get_by_test_id("stat-connections")).to_contain_text("1")  # dashboard-sub
        store = AuthStore(node.settings.data_dir)
        store.refresh()
        assert not store.admin_password_change_required() and store.verify_admin("admin", NEW_PASSWORD)

        # -- Integration → Webhooks → Create
        nav(page, "Webhooks")
        expect(page.get_by_role("heading", name="No webhooks yet")).to_be_visible()
        page.get_by_role("link", name="Create webhook").click()
        expect(page.get_by_role("heading", name="Create webhook")).to_be_visible()
        page.get_by_label("Name", exact=True).fill("my_webhook")
        expect(page.get_by_label("All messages and events")).to_be_checked()
        expect(page.get_by_label("Method")).to_have_value("POST")
        page.get_by_label("URL", exact=True).fill(receiver.url)

        # -- Test: one real request, the receiver's real answer
        page.get_by_role("button", name="Test", exact=True).click()
        result = page.get_by_test_id("test-result")
        expect(result).to_contain_text("200 OK")
        expect(result).to_contain_text("A real delivery would succeed.")
        expect(result.get_by_test_id("test-response-body")).to_have_text(RECEIVER_ANSWER.decode())
        result.get_by_text("Response headers").click()
        expect(result.get_by_role("cell", name="flask")).to_be_visible()
        tested = wait_for(lambda: receiver.requests, message="the Test request")
        assert tested[0].headers["webhook-test"] == "true"
        assert tested[0].json()["event"] == "message.publish"
        assert node_call(node, lambda n: n.webhooks.names()) == []  # Test saves nothing
        screenshot(page, "webhook-form", full_page=True)

        # -- Save
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("heading", name="my_webhook")).to_be_visible()
        expect(page.get_by_text("All messages and events")).to_be_visible()
        assert node_call(node, lambda n: n.webhooks.config("my_webhook").events) == ["all"]
        if shots:  # a second, failing webhook: the pages highlight it
            node.run(node.node.webhooks.create({"name": "billing", "url": f"http://127.0.0.1:{free_port()}/hook",
                                                "events": ["message.publish"], "topics": ["sensors/#"]}))

        # -- publish as the seed page does; the events arrive, the log and the counters follow
        before = len(receiver.events())
        publish(node.port, "t/1", [b'{ "msg": "Hello Webhook" }'], client_id="emqx_c")
        expected = {"client.connected", "message.publish", "message.delivered", "message.acked", "client.disconnected"}

        def settled() -> bool:  # every event of the publisher and the subscriber delivered, nothing waiting
            metrics = node_call(node, lambda n: n.webhooks.metrics("my_webhook"))
            names = {e["event"] for e in receiver.events()[before:]}
            return expected <= names and metrics["queuing"] + metrics["inflight"] == 0

        wait_for(settled, message="the publisher's events")
        events = receiver.events()[before:]
        assert all(e["metadata"] == {"rule_id": "my_webhook_WH_D"} for e in events)
        assert [e["payload"] for e in events if e["event"] == "message.publish"] == ['{ "msg": "Hello Webhook" }']
        log = page.get_by_role("table", name="Delivery log")
        expect(log.get_by_role("row").filter(has_text="message.publish").filter(has_text="success")).to_have_count(1)
        expect(log.get_by_role("row").filter(has_text="client.disconnected")).to_have_count(1)
        expect(log.get_by_role("row").filter(has_text="test")).to_have_count(0)  # the Test was of unsaved settings
        expect(page.get_by_test_id("metric-success").locator(".stat-value")).to_have_text(str(len(events)))
        expect(page.get_by_test_id("metric-matched").locator(".stat-value")).to_have_text(str(len(events)))
        expect(page.get_by_test_id("metric-failed").locator(".stat-value")).to_have_text("0")
        expect(page.get_by_text("connected", exact=True)).to_be_visible()

        if shots:
            with traffic(node.port):
                page.reload()  # a fresh chart, filled by the traffic
                expect(page.get_by_test_id("metric-matched").locator(".stat-hint")).not_to_have_text("0/s lately")
                nav(page, "Overview")
                expect(page.get_by_test_id("rate-received").locator(".stat-value")).not_to_have_text("0/s")
                expect(page.locator("svg.chart")).to_have_attribute("data-points", FILLED, timeout=30_000)
                expect(page.get_by_role("row").filter(has_text="billing")).to_have_class(re.compile("row-bad"))
                screenshot(page, "overview")
                nav(page, "Webhooks")
                expect(page.get_by_role("row").filter(has_text="billing")).to_be_visible()
                screenshot(page, "webhooks")
                page.get_by_role("link", name="my_webhook").click()
                expect(page.locator("svg.chart")).to_have_attribute("data-points", FILLED, timeout=30_000)
                screenshot(page, "webhook-detail")
            node.run(node.node.webhooks.delete("billing"))

        # -- the list: counters, then disable with the switch
        nav(page, "Webhooks")
        row = page.get_by_role("row").filter(has_text="my_webhook")
        expect(row).to_contain_text(receiver.url)
        switch = page.get_by_role("switch", name="Enable my_webhook")
        expect(switch).to_be_checked()
        switch.uncheck()
        expect(row.get_by_text("disabled", exact=True)).to_be_visible()
        assert node_call(node, lambda n: n.webhooks.config("my_webhook").enable) is False

        # -- delete, with confirmation
        page.get_by_role("button", name="Delete my_webhook").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Delete webhook my_webhook?")
        dialog.get_by_role("button", name="Delete").click()
        expect(page.get_by_role("heading", name="No webhooks yet")).to_be_visible()
        assert node_call(node, lambda n: n.webhooks.names()) == []
    finally:
        listener.disconnect()
        listener.loop_stop()
