"""A will waiting for its Will Delay Interval is part of the session state, so it survives a crash."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from hookmq.mqtt import ProtocolVersion, Publish, Suback, Subscribe, Subscription, Will
from tests.helpers import BrokerProcess, RawClient, raw_client

V5 = ProtocolVersion.MQTT_5


def test_delayed_will_is_published_after_kill_9_and_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = BrokerProcess(data).start()
    try:
        client = RawClient(proc.port, V5)
        will = Will(topic="wills/dev1", payload=b"gone", qos=1, retain=True, properties={0x18: 2})
        assert client.connect("dev1", clean_start=False, properties={0x11: 600}, will=will).reason_code == 0
        client.close()  # abrupt: the will is due 2 s from now
        time.sleep(0.5)  # longer than the 20 ms group commit, shorter than the will delay
        proc.signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.stop()
    restarted = BrokerProcess(data).start()
    try:
        with raw_client(restarted.port, V5) as sub:
            sub.connect("watcher")
            sub.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="wills/#", qos=1),)))
            assert isinstance(sub.recv(), Suback)
            got = sub.recv(timeout=10)  # live or retained, whichever comes first after the delay
            assert isinstance(got, Publish) and (got.topic, got.payload) == ("wills/dev1", b"gone")
    finally:
        restarted.stop()
