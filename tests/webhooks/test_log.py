"""The delivery log: bounded, newest first, filtered by outcome, with response snippets cut at 512 characters."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookmq.webhooks.log import OUTCOMES, SNIPPET_CHARS, Attempt, DeliveryLog, snippet


def attempt(n: int, outcome: str = "success", **fields: Any) -> Attempt:
    values: dict[str, Any] = {
        "at": 1_700_000_000.0 + n, "delivery_id": f"msg_{n}", "event": "message.publish", "attempt": 1,
        "outcome": outcome, "status": 200, "latency_ms": 12.5, "error": None, "response": "ok",
    }
    return Attempt(**(values | fields))


def test_bounded_oldest_make_way() -> None:
    log = DeliveryLog(maxlen=3)
    for n in range(5):
        log.add(attempt(n))
    assert len(log) == 3
    assert [a.delivery_id for a in log.recent()] == ["msg_4", "msg_3", "msg_2"]


def test_default_size() -> None:
    log = DeliveryLog()
    for n in range(250):
        log.add(attempt(n))
    assert len(log) == 200
    assert len(log.recent()) == 50
    assert len(log.recent(limit=500)) == 200
    assert log.recent(limit=1)[0].delivery_id == "msg_249"


def test_recent_of_an_empty_log() -> None:
    assert DeliveryLog().recent() == []
    assert len(DeliveryLog()) == 0


def test_filter_by_outcome_newest_first() -> None:
    log = DeliveryLog()
    outcomes = ["success", "retry", "retry", "failed", "success", "retry", "gone"]
    for n, outcome in enumerate(outcomes):
        log.add(attempt(n, outcome))
    assert [a.delivery_id for a in log.recent(outcome="retry")] == ["msg_5", "msg_2", "msg_1"]
    assert [a.delivery_id for a in log.recent(limit=2, outcome="retry")] == ["msg_5", "msg_2"]
    assert [a.delivery_id for a in log.recent(outcome="gone")] == ["msg_6"]
    assert log.recent(outcome="test") == []
    assert log.recent(outcome="nonsense") == []
    assert len(log.recent(outcome=None)) == len(outcomes)


def test_every_outcome_can_be_filtered() -> None:
    log = DeliveryLog()
    for n, outcome in enumerate(OUTCOMES):
        log.add(attempt(n, outcome))
    assert [log.recent(outcome=outcome)[0].outcome for outcome in OUTCOMES] == list(OUTCOMES)


def test_to_dict_is_json_ready() -> None:
    failed = attempt(1, "retry", attempt=3, status=None, latency_ms=None, error="connection refused", response="")
    data = failed.to_dict()
    assert data == {"at": 1_700_000_001.0, "delivery_id": "msg_1", "event": "message.publish", "attempt": 3,
                    "outcome": "retry", "status": None, "latency_ms": None, "error": "connection refused",
                    "response": ""}
    assert orjson.loads(orjson.dumps(data)) == data


def test_attempt_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        Attempt(1.0, "msg", "message.publish", 1, "success", 200, 1.0, None, "")  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------------- snippets


def test_snippet_short_bodies_unchanged() -> None:
    assert snippet(b"") == ""
    assert snippet(b'{"ok": true}') == '{"ok": true}'
    assert snippet("Grüße 😀".encode()) == "Grüße 😀"


@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])  # 1, 2, 3 and 4 bytes in UTF-8
def test_snippet_cuts_at_512_characters_not_bytes(char: str) -> None:
    assert SNIPPET_CHARS == 512
    text = snippet((char * 2000).encode())
    assert text == char * 512


def test_snippet_of_mixed_widths_keeps_whole_characters() -> None:
    body = ("a€😀é" * 1000).encode()
    assert snippet(body) == ("a€😀é" * 1000)[:512]
    assert "\ufffd" not in snippet(body)


def test_snippet_replaces_invalid_utf8() -> None:
    assert snippet(b"ok \xff\xfe end") == "ok \ufffd\ufffd end"
    assert snippet(b"\xff" * 3000) == "\ufffd" * 512
    assert snippet("€".encode()[:2]) == "\ufffd"  # a body cut inside a character


def test_snippet_of_a_large_body_is_cheap() -> None:
    assert snippet(b"x" * 10_000_000) == "x" * 512


@given(st.text())
def test_snippet_of_text_is_its_first_512_characters(text: str) -> None:
    assert snippet(text.encode("utf-8", "surrogatepass")) == text.encode("utf-8", "surrogatepass").decode(
        "utf-8", "replace")[:512]


@given(st.binary(max_size=5000))
def test_snippet_equals_decoding_the_whole_body(body: bytes) -> None:
    assert snippet(body) == body.decode("utf-8", "replace")[:512]
