"""Queued events into HTTP requests: the stored JSON, the target, the headers and the body a webhook sends.

EMQX's default body is the whole event plus ``"metadata": {"rule_id": "<name>_WH_D"}``; templates (spec §3.6)
render the URL path and query, header values and the body from the stored event at send time.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookmq.events.builders import MessagePayload
from hookmq.webhooks.model import WebhookConfig
from hookmq.webhooks.request import BODYLESS_METHODS, RequestBuilder, batch_delivery_id, encode_event

URL = "http://127.0.0.1:9000/hook"
EVENT: dict[str, Any] = {
    "id": "0006A1B2C3D4E5F6",
    "clientid": "c1",
    "username": "u1",
    "topic": "t/1",
    "qos": 1,
    "payload": '{"x": 5, "s": "hi"}',
    "flags": {"retain": False, "dup": False},
    "publish_received_at": 1700000000123,
    "event": "message.publish",
}
METADATA = {"rule_id": "w_WH_D"}


def builder(**fields: Any) -> RequestBuilder:
    return RequestBuilder(WebhookConfig.model_validate({"name": "w", "url": URL, **fields}))


def stored(event: dict[str, Any]) -> bytes:
    return encode_event(event, "plain")


def message(raw: bytes, **fields: Any) -> MessagePayload:
    event = MessagePayload({**EVENT, "payload": raw.decode("utf-8", "replace"), **fields})
    event.raw = raw
    return event


# ------------------------------------------------------------------------------------------ encode_event


def test_plain_keeps_the_event_json_exactly() -> None:
    assert encode_event(EVENT, "plain") == orjson.dumps(EVENT)
    assert orjson.loads(encode_event(EVENT, "plain")) == EVENT
    assert encode_event({}, "plain") == b"{}"


def test_plain_ignores_the_raw_bytes_of_a_message_event() -> None:
    event = message(b"\x00\xffhi")
    assert encode_event(event, "plain") == orjson.dumps(dict(event))
    assert orjson.loads(encode_event(event, "plain"))["payload"] == "\x00\ufffdhi"


def test_base64_encodes_the_raw_payload() -> None:
    event = message(b"\x00\xff")
    before = dict(event)
    encoded = orjson.loads(encode_event(event, "base64"))
    assert encoded["payload"] == base64.b64encode(b"\x00\xff").decode() == "AP8="
    assert {k: v for k, v in encoded.items() if k != "payload"} == {k: v for k, v in EVENT.items() if k != "payload"}
    assert list(encoded) == list(EVENT)  # the key order stays EMQX's
    # The event is not changed: other webhooks of the same event may be plain.
    assert dict(event) == before and event["payload"] == "\x00\ufffd" and event.raw == b"\x00\xff"


def test_base64_of_an_empty_payload() -> None:
    assert orjson.loads(encode_event(message(b""), "base64"))["payload"] == ""


def test_base64_of_a_binary_payload_round_trips() -> None:
    raw = bytes(range(256))
    assert base64.b64decode(orjson.loads(encode_event(message(raw), "base64"))["payload"]) == raw


def test_base64_adds_a_payload_to_a_message_event_without_one() -> None:
    event = MessagePayload({"clientid": "c1"})
    event.raw = b"ab"
    assert orjson.loads(encode_event(event, "base64")) == {"clientid": "c1", "payload": "YWI="}


def test_base64_leaves_an_event_without_raw_bytes_unchanged() -> None:
    assert encode_event(EVENT, "base64") == orjson.dumps(EVENT)
    connected = {"clientid": "c1", "event": "client.connected"}
    assert encode_event(connected, "base64") == orjson.dumps(connected)
    assert encode_event(MessagePayload(EVENT), "base64") == orjson.dumps(EVENT)  # raw never set


# ------------------------------------------------------------------------------------------ default body


def test_the_default_request_is_the_event_plus_metadata() -> None:
    target, headers, body = builder().build(stored(EVENT))
    assert target == "/hook"
    assert headers == {"content-type": "application/json"}
    assert orjson.loads(body) == {**EVENT, "metadata": METADATA}
    assert body == orjson.dumps({**EVENT, "metadata": METADATA})  # spliced, byte for byte the same


def test_the_default_body_of_an_empty_event() -> None:
    _, _, body = builder().build(b"{}")
    assert orjson.loads(body) == {"metadata": METADATA}
    assert body == b'{"metadata":{"rule_id":"w_WH_D"}}'


def test_the_rule_id_follows_the_webhook_name() -> None:
    config = WebhookConfig(name="orders-1", url=URL)
    _, _, body = RequestBuilder(config).build(stored(EVENT))
    assert orjson.loads(body)["metadata"] == {"rule_id": "orders-1_WH_D"}


def test_the_default_body_keeps_a_base64_payload() -> None:
    _, _, body = builder(payload_encoding="base64").build(encode_event(message(b"\x00\xff"), "base64"))
    assert orjson.loads(body) == {**EVENT, "payload": "AP8=", "metadata": METADATA}


def test_the_default_body_keeps_unicode_and_nesting() -> None:
    event = {"payload": "héllo \u2603 \"q\" \\", "user_property": {"k": "v"}, "list": [1, {"a": None}]}
    _, _, body = builder().build(stored(event))
    assert orjson.loads(body) == {**event, "metadata": METADATA}


@given(st.dictionaries(st.text(max_size=8).filter(lambda k: k != "metadata"),
                       st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 63 - 1) | st.text(max_size=20),
                       max_size=6))
def test_the_default_body_is_any_event_plus_metadata(event: dict[str, Any]) -> None:
    _, _, body = builder().build(stored(event))
    assert orjson.loads(body) == {**event, "metadata": METADATA}


# ------------------------------------------------------------------------------------- constant targets


@pytest.mark.parametrize(("url", "target"), [
    ("http://h:1", ""),
    ("http://h:1/", "/"),
    ("http://h:1/x?y=1", "/x?y=1"),
    ("http://h:1?y=1", "?y=1"),
    ("https://hooks.example.com/a/b%20c?q=1&r=2", "/a/b%20c?q=1&r=2"),
    ("http://h:1/lit/$${x}", "/lit/${x}"),
])
def test_a_constant_target_is_the_configured_path(url: str, target: str) -> None:
    assert builder(url=url).build(stored(EVENT))[0] == target
    assert builder(url=url).build(b"{}")[0] == target


def test_constant_headers_are_the_configured_ones() -> None:
    headers = {"Content-Type": "text/plain", "Authorization": "Bearer s3cret", "X-Lit": "$${clientid}"}
    target, sent, body = builder(headers=headers).build(stored(EVENT))
    assert target == "/hook"
    assert sent == {"content-type": "text/plain", "authorization": "Bearer s3cret", "x-lit": "${clientid}"}
    assert orjson.loads(body) == {**EVENT, "metadata": METADATA}


def test_no_headers() -> None:
    assert builder(headers={}).build(stored(EVENT))[1] == {}


# ------------------------------------------------------------------------------------------- templates


def test_a_templated_path_and_query() -> None:
    b = builder(url="http://h:1/mqtt/${clientid}/${topic}?qos=${qos}&x=${payload.x}&none=${nope}")
    target, headers, body = b.build(stored(EVENT))
    assert target == "/mqtt/c1/t/1?qos=1&x=5&none=undefined"
    assert headers == {"content-type": "application/json"}
    assert orjson.loads(body) == {**EVENT, "metadata": METADATA}  # still the default body
    assert b.build(stored({**EVENT, "clientid": "c2"}))[0] == "/mqtt/c2/t/1?qos=1&x=5&none=undefined"


def test_a_templated_query_only() -> None:
    assert builder(url="http://h:1?c=${clientid}").build(stored(EVENT))[0] == "?c=c1"


def test_templated_header_values() -> None:
    b = builder(headers={"content-type": "application/json", "X-Client": "${clientid}",
                         "X-Where": "topic=${topic};qos=${qos};s=${payload.s}"})
    target, headers, body = b.build(stored(EVENT))
    assert target == "/hook"  # a varying header alone takes the slow path; the path is still the configured one
    assert headers == {"content-type": "application/json", "x-client": "c1", "x-where": "topic=t/1;qos=1;s=hi"}
    assert orjson.loads(body) == {**EVENT, "metadata": METADATA}


def test_line_breaks_from_event_data_become_spaces_in_headers() -> None:
    b = builder(headers={"x-client": "${clientid}", "x-user": "<${username}>"})
    event = {**EVENT, "clientid": "evil\r\nx-injected: 1", "username": "a\nb\rc\0d"}
    _, headers, _ = b.build(stored(event))
    assert headers == {"x-client": "evil  x-injected: 1", "x-user": "<a b c d>"}
    assert not any(c in value for value in headers.values() for c in "\r\n\0")


def test_line_breaks_from_event_data_do_not_reach_the_request_target() -> None:
    b = builder(url="http://h:1/in/${payload.x}")
    target, _, _ = b.build(stored({**EVENT, "payload": '{"x": "a\\r\\nb"}'}))
    assert "\r" not in target and "\n" not in target


def test_a_body_template_with_a_json_payload_field() -> None:
    b = builder(body='{"client": "${clientid}", "x": ${payload.x}, "s": "${payload.s}", "missing": "${nope}"}')
    target, headers, body = b.build(stored(EVENT))
    assert target == "/hook" and headers == {"content-type": "application/json"}
    assert orjson.loads(body) == {"client": "c1", "x": 5, "s": "hi", "missing": "undefined"}
    assert b"metadata" not in body  # a body template is the whole body


def test_a_body_template_of_the_whole_event() -> None:
    _, _, body = builder(body="${.}").build(stored(EVENT))
    assert orjson.loads(body) == EVENT


def test_a_constant_body_template() -> None:
    assert builder(body="ping").build(stored(EVENT))[2] == b"ping"
    assert builder(body="").build(stored(EVENT))[2] == b""


def test_a_body_template_is_utf8() -> None:
    _, _, body = builder(body="${payload}").build(stored({**EVENT, "payload": "h\u00e9 \u2603"}))
    assert body == "h\u00e9 \u2603".encode()


def test_dollar_dollar_brace_is_a_literal() -> None:
    b = builder(url="http://h:1/p/$${x}/${clientid}", headers={"x-t": "$${a}-${clientid}"},
                body='{"lit": "$${clientid}", "v": "${clientid}", "d": "${$}"}')
    target, headers, body = b.build(stored(EVENT))
    assert target == "/p/${x}/c1"
    assert headers == {"x-t": "${a}-c1"}
    assert orjson.loads(body) == {"lit": "${clientid}", "v": "c1", "d": "$"}


def test_everything_templated_at_once() -> None:
    b = builder(method="PUT", url="https://h/${topic}", headers={"x-id": "${id}"}, body="${payload.s}")
    assert b.build(stored(EVENT)) == ("/t/1", {"x-id": "0006A1B2C3D4E5F6"}, b"hi")


def test_a_stored_event_that_is_not_an_object_renders_as_empty() -> None:
    b = builder(url="http://h:1/${clientid}", body="[${clientid}]")
    assert b.build(b"[1, 2]") == ("/undefined", {"content-type": "application/json"}, b"[undefined]")


# ------------------------------------------------------------------------------------- methods and body


@pytest.mark.parametrize("method", ["GET", "DELETE", "get", "delete"])
def test_get_and_delete_send_an_empty_body(method: str) -> None:
    assert method.upper() in BODYLESS_METHODS
    assert builder(method=method).build(stored(EVENT)) == ("/hook", {"content-type": "application/json"}, b"")
    templated = builder(method=method, url="http://h:1/${clientid}", headers={"x-t": "${topic}"})
    assert templated.build(stored(EVENT)) == ("/c1", {"x-t": "t/1"}, b"")
    assert builder(method=method).build(b"{}")[2] == b""


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_post_and_put_send_the_body(method: str) -> None:
    assert method not in BODYLESS_METHODS
    assert orjson.loads(builder(method=method).build(stored(EVENT))[2]) == {**EVENT, "metadata": METADATA}


# --------------------------------------------------------------------------------------------- batches


def test_a_batch_is_an_array_of_events_each_with_its_delivery_id() -> None:
    events = [{**EVENT, "clientid": f"c{i}", "id": str(i)} for i in range(3)]
    ids = ["msg_a", "msg_b", "msg_c"]
    target, headers, body = builder(batch_size=10).build_batch([stored(e) for e in events], ids)
    assert target == "/hook"
    assert headers == {"content-type": "application/json"}
    assert orjson.loads(body) == [{**event, "metadata": {"rule_id": "w_WH_D", "delivery_id": delivery_id}}
                                  for event, delivery_id in zip(events, ids, strict=True)]


def test_a_batch_of_one_and_of_empty_events() -> None:
    _, _, body = builder().build_batch([b"{}"], ["msg_1"])
    assert orjson.loads(body) == [{"metadata": {"rule_id": "w_WH_D", "delivery_id": "msg_1"}}]
    _, _, body = builder().build_batch([b"{}", stored(EVENT), b"{}"], ["1", "2", "3"])
    assert orjson.loads(body) == [{"metadata": {"rule_id": "w_WH_D", "delivery_id": "1"}},
                                  {**EVENT, "metadata": {"rule_id": "w_WH_D", "delivery_id": "2"}},
                                  {"metadata": {"rule_id": "w_WH_D", "delivery_id": "3"}}]


def test_a_batch_renders_the_url_and_headers_from_the_first_event() -> None:
    b = builder(url="http://h:1/in/${clientid}?t=${topic}", headers={"x-client": "${clientid}", "x-k": "v"},
                batch_size=5)
    events = [{**EVENT, "clientid": "first", "topic": "a"}, {**EVENT, "clientid": "second", "topic": "b"}]
    target, headers, body = b.build_batch([stored(e) for e in events], ["1", "2"])
    assert target == "/in/first?t=a"
    assert headers == {"x-client": "first", "x-k": "v"}
    assert [element["clientid"] for element in orjson.loads(body)] == ["first", "second"]


def test_a_batch_with_only_a_varying_header() -> None:
    b = builder(headers={"x-client": "${clientid}"}, batch_size=5)
    target, headers, _ = b.build_batch([stored({"clientid": "c9"}), stored(EVENT)], ["1", "2"])
    assert (target, headers) == ("/hook", {"x-client": "c9"})


def test_a_batch_needs_one_id_per_event() -> None:
    with pytest.raises(ValueError):
        builder().build_batch([stored(EVENT), stored(EVENT)], ["only one"])


def test_the_batch_delivery_id_is_deterministic() -> None:
    ids = ["msg_01", "msg_02", "msg_03"]
    first = batch_delivery_id(ids)
    assert first == batch_delivery_id(list(ids)) == batch_delivery_id(tuple(ids))
    assert first.startswith("batch_")
    assert len(first) == len("batch_") + 32
    assert all(c in "0123456789abcdef" for c in first.removeprefix("batch_"))


def test_the_batch_delivery_id_differs_for_different_batches() -> None:
    batches = [["msg_01"], ["msg_02"], ["msg_01", "msg_02"], ["msg_02", "msg_01"], ["msg_01", "msg_02", "msg_03"],
               []]
    assert len({batch_delivery_id(ids) for ids in batches}) == len(batches)


delivery_ids = st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12), max_size=5)


@given(delivery_ids, delivery_ids)
def test_the_batch_delivery_id_tells_batches_apart(a: list[str], b: list[str]) -> None:
    """Delivery ids are ``msg_`` + base32 + hex (`new_delivery_id`): no spaces, the joining character."""
    assert (batch_delivery_id(a) == batch_delivery_id(b)) == (a == b)
    assert batch_delivery_id(a).startswith("batch_")
