"""`hookmq events` (catalogue) and `hookmq events tail` against a real running broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from hookmq.events.catalogue import CATALOGUE
from hookmq.mqtt import Publish
from tests.helpers import BrokerProcess, api_authorization, raw_client, wait_for


def api_key(proc: BrokerProcess) -> str:
    """``KEY:SECRET`` of an API key of the node (the form ``--api-key`` takes)."""
    import base64

    return base64.b64decode(api_authorization(proc.data_dir).split()[1]).decode()


def hookmq(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hookmq", *args], capture_output=True, text=True, timeout=timeout)


def test_events_lists_the_catalogue() -> None:
    out = hookmq("events")
    assert out.returncode == 0
    for spec in CATALOGUE:
        assert spec.name in out.stdout and spec.rule_topic in out.stdout
    specs = json.loads(hookmq("events", "--json").stdout)
    assert [s["name"] for s in specs] == [s.name for s in CATALOGUE]
    assert all(s["example"]["event"] == s["name"] for s in specs)


def test_tail_prints_live_events_filtered_by_event_and_topic(tmp_path: Path) -> None:
    proc = BrokerProcess(tmp_path / "data").start()
    url = f"http://127.0.0.1:{proc.addresses['http'][1]}"
    tail = subprocess.Popen([sys.executable, "-m", "hookmq", "events", "tail", "--url", url, "--api-key", api_key(proc),
                             "--event", "message.publish", "--event", "client.disconnected", "--topic", "t/#"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[dict[str, object]] = []
    reader = threading.Thread(target=lambda: lines.extend(json.loads(line) for line in tail.stdout if line.strip()),
                              daemon=True)
    reader.start()
    try:
        wait_for(lambda: _probe(proc.port, lines), message="tail connected")  # the stream is live from here
        lines.clear()
        with raw_client(proc.port) as c:
            c.connect("tailed")
            c.send(Publish(topic="other/1", payload=b"no"))
            c.send(Publish(topic="t/1", payload=b'{ "msg": "Hello Webhook" }'))
        mine = lambda: [line for line in lines if line.get("clientid") == "tailed"]  # noqa: E731
        wait_for(lambda: len(mine()) >= 2, message="two events printed")
        events = mine()
        assert [line["event"] for line in events] == ["message.publish", "client.disconnected"]
        assert events[0]["topic"] == "t/1" and events[0]["payload"] == '{ "msg": "Hello Webhook" }'
        assert events[1]["reason"] == "tcp_closed"
    finally:
        tail.terminate()
        tail.wait(10)
        proc.stop()


def _probe(port: int, lines: list[dict[str, object]]) -> bool:
    """Connect and drop a client; True once its disconnected event came through the tail."""
    with raw_client(port) as c:
        c.connect("probe")
    return any(line.get("clientid") == "probe" for line in lines)


def test_tail_with_an_unknown_event_exits_2_naming_the_known_ones(tmp_path: Path) -> None:
    proc = BrokerProcess(tmp_path / "data").start()
    try:
        url = f"http://127.0.0.1:{proc.addresses['http'][1]}"
        out = hookmq("events", "tail", "--url", url, "--api-key", api_key(proc), "--event", "message.publsh")
        assert out.returncode == 2 and "message.publish" in out.stderr
    finally:
        proc.stop()


def test_tail_needs_credentials_and_takes_them_from_the_environment(tmp_path: Path) -> None:
    proc = BrokerProcess(tmp_path / "data").start()
    try:
        url = f"http://127.0.0.1:{proc.addresses['http'][1]}"
        out = hookmq("events", "tail", "--url", url)
        assert out.returncode == 2 and "--api-key" in out.stderr and "HOOKMQ_API_KEY" in out.stderr
        out = hookmq("events", "tail", "--url", url, "--api-key", "nocolon")
        assert out.returncode == 2 and "KEY:SECRET" in out.stderr
        # with a key from the environment the stream opens; an unknown event then proves the request got through
        env = {**os.environ, "HOOKMQ_API_KEY": api_key(proc)}
        out = subprocess.run([sys.executable, "-m", "hookmq", "events", "tail", "--url", url, "--event", "nope"],
                             capture_output=True, text=True, timeout=30, env=env)
        assert out.returncode == 2 and "unknown event 'nope'" in out.stderr
    finally:
        proc.stop()


def test_tail_without_a_broker_exits_2() -> None:
    out = hookmq("events", "tail", "--url", "http://127.0.0.1:9")
    assert out.returncode == 2 and "cannot reach the broker" in out.stderr
