"""SIGHUP re-reads the ACL file of a running `hookmq serve`."""

from __future__ import annotations

import signal
from pathlib import Path

from hookmq.mqtt import ProtocolVersion, Suback, Subscribe, Subscription
from tests.helpers import BrokerProcess, raw_client, wait_for

V5 = ProtocolVersion.MQTT_5
DENY = '[[rules]]\npermission = "deny"\naction = "subscribe"\ntopics = ["secret/#"]\n'


def _granted(port: int) -> bool:
    with raw_client(port, V5) as c:
        c.connect("probe")
        c.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="secret/x"),)))
        ack = c.recv()
        assert isinstance(ack, Suback)
        return ack.reason_codes == (0,)


def test_sighup_reloads_the_acl_and_a_broken_file_keeps_the_old_rules(tmp_path: Path) -> None:
    acl = tmp_path / "acl.toml"
    acl.write_text(DENY)
    proc = BrokerProcess(tmp_path / "data", env={"HOOKMQ_AUTHORIZATION__ACL_FILE": str(acl)}).start()
    try:
        assert not _granted(proc.port)
        acl.write_text('[[rules]]\npermission = "maybe"\n')
        proc.signal(signal.SIGHUP)
        wait_for(lambda: "ACL not reloaded" in proc.output(), message="reload error logged")
        assert not _granted(proc.port)
        acl.write_text("")
        proc.signal(signal.SIGHUP)
        wait_for(lambda: "ACL reloaded" in proc.output(), message="reload logged")
        assert _granted(proc.port)
    finally:
        assert proc.stop() == 0
