"""Standard Webhooks signing: the ``standardwebhooks`` package verifies our headers unchanged, ids are unique."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hookmq.webhooks.model import WebhookConfig, generate_secret
from hookmq.webhooks.signing import new_delivery_id, sign, signature_headers

ID_FORMAT = re.compile(r"msg_[A-Za-z0-9_]{1,36}")
BODIES = [
    b"{}",
    orjson.dumps({"topic": "t/1", "payload": "hello"}),
    orjson.dumps({"payload": "Grüße, 温度 25°C, emoji 😀", "clientid": "ç"}),
    orjson.dumps({"payload": "\x00\x01\x7f\ufffd line\nbreak \"quoted\" \\ back"}),
    orjson.dumps({"payload": base64.b64encode(bytes(range(256))).decode(), "payload_encoding": "base64"}),
    orjson.dumps([{"id": "msg_1", "payload": "a"}, {"id": "msg_2", "payload": "b"}]),  # a batch
]


def key_of(secret: str) -> bytes:
    key = WebhookConfig(name="w", url="http://h/", secret=secret).signing_keys[0]
    assert key is not None
    return key


def verify(secret: str, body: bytes, headers: list[tuple[str, str]]) -> None:
    Webhook(secret).verify(body, dict(headers), json_parse=False)


def test_published_test_vector() -> None:
    # The example of the Standard Webhooks reference libraries.
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("nbytes", [24, 32, 64])
def test_standardwebhooks_verifies_our_headers(body: bytes, nbytes: int) -> None:
    secret = generate_secret(nbytes)
    headers = signature_headers([key_of(secret)], new_delivery_id(), int(time.time()), body)
    verify(secret, body, headers)
    assert Webhook(secret).verify(body, dict(headers)) == orjson.loads(body)


def test_headers_are_id_timestamp_signature() -> None:
    key = key_of(generate_secret())
    headers = signature_headers([key], "msg_abc", 1700000000, b"{}")
    assert headers == [("webhook-id", "msg_abc"), ("webhook-timestamp", "1700000000"),
                       ("webhook-signature", sign(key, "msg_abc", 1700000000, b"{}"))]


def test_rotation_signs_with_every_key_first_key_first() -> None:
    old, new = generate_secret(), generate_secret()
    body = BODIES[2]
    delivery_id, now = new_delivery_id(), int(time.time())
    headers = signature_headers([key_of(new), key_of(old)], delivery_id, now, body)
    assert dict(headers)["webhook-signature"].split(" ") == [sign(key_of(secret), delivery_id, now, body)
                                                             for secret in (new, old)]
    verify(old, body, headers)
    verify(new, body, headers)
    with pytest.raises(WebhookVerificationError):
        verify(generate_secret(), body, headers)


def test_without_keys_only_id_and_timestamp() -> None:
    headers = signature_headers([], "msg_x", 1700000000, b"{}")
    assert headers == [("webhook-id", "msg_x"), ("webhook-timestamp", "1700000000")]


@pytest.mark.parametrize("tamper", ["body", "secret", "id", "timestamp", "stale", "future"])
def test_verifier_rejects(tamper: str) -> None:
    secret, body, now = generate_secret(), BODIES[1], int(time.time())
    timestamp = {"stale": now - 600, "future": now + 600}.get(tamper, now)
    headers = dict(signature_headers([key_of(secret)], "msg_1", timestamp, body))
    if tamper == "body":
        body = body.replace(b"hello", b"hellO")
    elif tamper == "secret":
        secret = generate_secret()
    elif tamper == "id":
        headers["webhook-id"] = "msg_2"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(now - 1)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


@settings(max_examples=50, deadline=None)
@given(text=st.text(), delivery_id=st.from_regex(ID_FORMAT, fullmatch=True))
def test_any_utf8_body_verifies(text: str, delivery_id: str) -> None:
    secret = generate_secret()
    body = orjson.dumps({"payload": text})
    verify(secret, body, signature_headers([key_of(secret)], delivery_id, int(time.time()), body))


# ---------------------------------------------------------------------------------------------- ids


def test_id_format() -> None:
    delivery_id = new_delivery_id()
    assert ID_FORMAT.fullmatch(delivery_id), delivery_id
    assert len(delivery_id) <= 40


def test_ids_unique_and_in_creation_order() -> None:
    ids = [new_delivery_id() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(ID_FORMAT.fullmatch(i) for i in ids[:: 1000])


def test_ids_unique_across_processes() -> None:
    script = "from hookmq.webhooks.signing import new_delivery_id as n\nfor _ in range(1000): print(n())"
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
            for _ in range(2)]
    assert all(len(run) == 1000 for run in runs)
    here = {new_delivery_id() for _ in range(1000)}
    assert len(set(runs[0]) | set(runs[1]) | here) == 3000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_does_not_repeat_parent_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child must not return into pytest
        try:
            os.write(write, " ".join(new_delivery_id() for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    assert len(child) == 3
    assert child.isdisjoint(new_delivery_id() for _ in range(3))
