"""Authentication (argon2 password file) and authorization (ACL TOML file) end to end over real sockets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hookmq.broker.auth import PasswordFile
from hookmq.mqtt import (
    Connack,
    Connect,
    Disconnect,
    Pingreq,
    Pingresp,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Will,
    encode,
)
from tests.broker.support import V5, V311, StartBroker, each_version, open_watcher, session_gone
from tests.helpers import BrokerThread, raw_client, wait_for

VERSIONS = each_version()


@pytest.fixture
def passwd(tmp_path: Path) -> Path:
    path = tmp_path / "passwd"
    users = PasswordFile(path)
    users.add("alice", "wonderland")
    users.save()
    return path


def connect(bt: BrokerThread, version: int, client_id: str, username: str | None = None,
            password: bytes | None = None) -> list[object]:
    """Every packet the broker sends in answer to a lone CONNECT, up to the close (or the CONNACK if it
    stays open, in which case the client disconnects)."""
    with raw_client(bt.port, version) as c:
        c.send(Connect(protocol_version=version, client_id=client_id, username=username, password=password))
        ack = c.recv()
        if isinstance(ack, Connack) and ack.reason_code == 0:
            c.send(Disconnect())
            return [ack]
        return [ack, *c.recv_until_closed()]


def code_of(packets: list[object]) -> int:
    ack = packets[0]
    assert isinstance(ack, Connack), ack
    return ack.reason_code


# ------------------------------------------------------------------------------------------------ authentication


@VERSIONS
def test_good_password_is_accepted(start_broker: StartBroker, passwd: Path, version: int) -> None:
    bt = start_broker(authentication={"allow_anonymous": False, "password_file": str(passwd)})
    [ack] = connect(bt, version, "c1", "alice", b"wonderland")
    assert isinstance(ack, Connack) and (ack.reason_code, ack.session_present) == (0, False)


@pytest.mark.parametrize(("version", "code"), [(V311, 0x04), (V5, 0x86)], ids=["3.1.1", "5"])
@pytest.mark.parametrize(("username", "password"), [
    ("alice", b"looking-glass"), ("alice", b""), ("alice", None), ("mallory", b"wonderland"),
], ids=["wrong-password", "empty-password", "no-password", "unknown-user"])
def test_bad_credentials_are_refused(start_broker: StartBroker, passwd: Path, version: int, code: int,
                                     username: str, password: bytes | None) -> None:
    """MQTT 5 3.2.2.2 / 3.1.1 3.2.2.3: bad user name or password gets CONNACK 0x86 (MQTT 5) / return code
    0x04 (3.1.1), Session Present 0, then the server closes the connection [MQTT-3.2.2-5]."""
    bt = start_broker(authentication={"allow_anonymous": False, "password_file": str(passwd)})
    assert connect(bt, version, "c1", username, password) == [Connack(session_present=False, reason_code=code)]
    assert session_gone(bt, "c1")


@pytest.mark.parametrize(("version", "code"), [(V311, 0x05), (V5, 0x87)], ids=["3.1.1", "5"])
def test_anonymous_refused_when_not_allowed(start_broker: StartBroker, passwd: Path, version: int,
                                            code: int) -> None:
    """allow_anonymous = false: a CONNECT without a user name is refused (Not authorized)."""
    bt = start_broker(authentication={"allow_anonymous": False, "password_file": str(passwd)})
    assert connect(bt, version, "anon") == [Connack(session_present=False, reason_code=code)]


def test_anonymous_refused_without_a_password_file(start_broker: StartBroker) -> None:
    bt = start_broker(authentication={"allow_anonymous": False})
    assert connect(bt, V5, "anon") == [Connack(session_present=False, reason_code=0x87)]
    assert connect(bt, V5, "named", "alice", b"x") == [Connack(session_present=False, reason_code=0x86)]


def test_anonymous_allowed_alongside_a_password_file(start_broker: StartBroker, passwd: Path) -> None:
    """With allow_anonymous = true, clients without a user name get in; those with one are still checked."""
    bt = start_broker(authentication={"allow_anonymous": True, "password_file": str(passwd)})
    assert code_of(connect(bt, V5, "anon")) == 0
    assert code_of(connect(bt, V5, "alice", "alice", b"wonderland")) == 0
    assert connect(bt, V5, "bad", "alice", b"nope") == [Connack(session_present=False, reason_code=0x86)]


def test_user_added_to_the_file_while_running_can_connect(start_broker: StartBroker, passwd: Path) -> None:
    """The broker picks up changes of the password file without a restart (README)."""
    bt = start_broker(authentication={"allow_anonymous": False, "password_file": str(passwd)})
    assert code_of(connect(bt, V5, "bob", "bob", b"builder")) == 0x86
    users = PasswordFile.open_existing(passwd)
    users.add("bob", "builder")
    users.save()
    wait_for(lambda: code_of(connect(bt, V5, "bob", "bob", b"builder")) == 0, timeout=5,
             message="new user accepted")
    # and a removed user is refused again
    users.remove("alice")
    users.save()
    wait_for(lambda: code_of(connect(bt, V5, "alice", "alice", b"wonderland")) == 0x86, timeout=5,
             message="removed user refused")


@VERSIONS
def test_packets_pipelined_behind_connect_wait_for_the_password_check(start_broker: StartBroker, passwd: Path,
                                                                      version: int) -> None:
    """MQTT 5 3.1.4: the server processes packets after CONNECT only once it accepted the CONNECT; a client
    may send them without waiting for CONNACK."""
    bt = start_broker(authentication={"allow_anonymous": False, "password_file": str(passwd)})
    burst = b"".join((
        encode(Connect(protocol_version=version, client_id="eager", username="alice", password=b"wonderland"),
               version),
        encode(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="eager/t", qos=1),)), version),
        encode(Publish(topic="eager/t", payload=b"to myself", qos=1, packet_id=2), version),
    ))
    with raw_client(bt.port, version) as c:
        c.send_raw(burst)
        ack = c.recv()
        assert isinstance(ack, Connack) and ack.reason_code == 0, ack
        assert c.recv() == Suback(packet_id=1, reason_codes=(1,))
        rest = [c.recv(), c.recv()]
        assert Puback(packet_id=2) in rest
        assert any(isinstance(p, Publish) and p.payload == b"to myself" for p in rest)


def test_packets_pipelined_behind_a_refused_connect_are_never_processed(start_broker: StartBroker,
                                                                       passwd: Path) -> None:
    """[MQTT-3.2.2-5] after a refused CONNACK the server closes without processing anything else."""
    bt = start_broker(authentication={"allow_anonymous": False, "password_file": str(passwd)})
    with raw_client(bt.port, V5) as sub:
        sub.connect("watcher", username="alice", password=b"wonderland")
        sub.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="sneak/#", qos=1),)))
        assert isinstance(sub.recv(), Suback)
        burst = encode(Connect(protocol_version=V5, client_id="sneaky", username="alice", password=b"guess"), V5) \
            + encode(Publish(topic="sneak/in", payload=b"x", qos=1, packet_id=1), V5)
        with raw_client(bt.port, V5) as c:
            c.send_raw(burst)
            assert c.recv_until_closed() == [Connack(session_present=False, reason_code=0x86)]
        sub.expect_silence(0.2)


# ------------------------------------------------------------------------------------------------ authorization


ACL = """
[[rules]]
permission = "deny"
action = "subscribe"
topics = ["secret/#"]

[[rules]]
permission = "deny"
action = "publish"
topics = ["readonly/#"]

[[rules]]
permission = "allow"
action = "publish"
topics = ["clients/%c/#", "users/%u/#"]

[[rules]]
permission = "deny"
action = "publish"
topics = ["clients/#", "users/#"]

[[rules]]
permission = "allow"
action = "all"
topics = ["#"]
"""


@pytest.fixture
def acl_broker(start_broker: StartBroker, tmp_path: Path) -> Callable[..., BrokerThread]:
    def start(deny_action: str = "ignore") -> BrokerThread:
        path = tmp_path / "acl.toml"
        path.write_text(ACL)
        return start_broker(authorization={"acl_file": str(path), "no_match": "deny", "deny_action": deny_action})
    return start


@pytest.mark.parametrize(("version", "denied"), [(V311, 0x80), (V5, 0x87)], ids=["3.1.1", "5"])
def test_denied_subscription_gets_the_failure_code(acl_broker: Callable[..., BrokerThread], version: int,
                                                   denied: int) -> None:
    """A denied filter gets SUBACK 0x87 Not authorized (MQTT 5) / 0x80 Failure (3.1.1) (3.9.3); the
    other filters of the same SUBSCRIBE are granted, and nothing is delivered on the denied one."""
    bt = acl_broker()
    with raw_client(bt.port, version) as c, raw_client(bt.port, version) as pub:
        c.connect("curious")
        c.send(Subscribe(packet_id=3, subscriptions=(Subscription(topic_filter="secret/plans", qos=1),
                                                     Subscription(topic_filter="public/news", qos=1))))
        assert c.recv() == Suback(packet_id=3, reason_codes=(denied, 1))
        pub.connect("publisher")
        pub.send(Publish(topic="secret/plans", payload=b"hidden", qos=1, packet_id=1))
        assert isinstance(pub.recv(), Puback)
        pub.send(Publish(topic="public/news", payload=b"open", qos=1, packet_id=2))
        assert isinstance(pub.recv(), Puback)
        got = c.recv()
        assert isinstance(got, Publish) and got.payload == b"open", got


@VERSIONS
def test_denied_publish_is_dropped_and_acknowledged(acl_broker: Callable[..., BrokerThread], version: int) -> None:
    """A denied PUBLISH is not delivered; MQTT 5 PUBACK/PUBREC carry 0x87, MQTT 3.1.1 (which cannot say
    'denied') gets a normal acknowledgement so it does not retransmit forever."""
    bt = acl_broker()
    code = 0x87 if version == V5 else 0
    sub = open_watcher(bt, "readonly/#")
    try:
        with raw_client(bt.port, version) as c:
            c.connect("writer")
            c.send(Publish(topic="readonly/x", payload=b"q0"))
            c.send(Publish(topic="readonly/x", payload=b"q1", qos=1, packet_id=1))
            assert c.recv() == Puback(packet_id=1, reason_code=code)
            c.send(Publish(topic="readonly/x", payload=b"q2", qos=2, packet_id=2))
            assert c.recv() == Pubrec(packet_id=2, reason_code=code)
            if version == V311:
                c.send(Pubrel(packet_id=2))
                assert c.recv() == Pubcomp(packet_id=2)
            c.send(Pingreq())
            assert c.recv() == Pingresp()  # still connected
        sub.expect_silence(0.2)
        assert bt.call(lambda: bt.broker.stats.messages_dropped) >= 3
    finally:
        sub.close()


@pytest.mark.parametrize(("version", "expected"), [(V311, []), (V5, [Disconnect(reason_code=0x87)])],
                         ids=["3.1.1", "5"])
def test_deny_action_disconnect_closes_on_denied_publish(acl_broker: Callable[..., BrokerThread], version: int,
                                                         expected: list[object]) -> None:
    bt = acl_broker("disconnect")
    sub = open_watcher(bt, "readonly/#")
    try:
        with raw_client(bt.port, version) as c:
            c.connect("rebel")
            c.send(Publish(topic="readonly/x", payload=b"no", qos=1, packet_id=1))
            assert c.recv_until_closed() == expected
        sub.expect_silence(0.2)
    finally:
        sub.close()


@pytest.mark.parametrize(("version", "expected"), [(V311, []), (V5, [Disconnect(reason_code=0x87)])],
                         ids=["3.1.1", "5"])
def test_deny_action_disconnect_closes_on_denied_subscribe(acl_broker: Callable[..., BrokerThread], version: int,
                                                           expected: list[object]) -> None:
    bt = acl_broker("disconnect")
    with raw_client(bt.port, version) as c:
        c.connect("snoop")
        c.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="secret/#", qos=1),)))
        assert c.recv_until_closed() == expected
    assert session_gone(bt, "snoop")


def test_allowed_traffic_is_unaffected_by_deny_action_disconnect(acl_broker: Callable[..., BrokerThread]) -> None:
    bt = acl_broker("disconnect")
    sub = open_watcher(bt, "public/#")
    try:
        with raw_client(bt.port, V5) as c:
            c.connect("citizen")
            c.send(Publish(topic="public/x", payload=b"ok", qos=1, packet_id=1))
            assert c.recv() == Puback(packet_id=1)
        got = sub.recv()
        assert isinstance(got, Publish) and got.payload == b"ok"
    finally:
        sub.close()


def test_clientid_substitution(acl_broker: Callable[..., BrokerThread]) -> None:
    """%c in an ACL rule is the publishing client's id: c1 may publish under clients/c1/ only."""
    bt = acl_broker()
    sub = open_watcher(bt, "clients/#")
    try:
        with raw_client(bt.port, V5) as c:
            c.connect("c1")
            c.send(Publish(topic="clients/c1/temp", payload=b"mine", qos=1, packet_id=1))
            assert c.recv() == Puback(packet_id=1)
            c.send(Publish(topic="clients/c2/temp", payload=b"theirs", qos=1, packet_id=2))
            assert c.recv() == Puback(packet_id=2, reason_code=0x87)
        got = sub.recv()
        assert isinstance(got, Publish) and (got.topic, got.payload) == ("clients/c1/temp", b"mine")
        sub.expect_silence(0.2)
    finally:
        sub.close()


def test_username_substitution(start_broker: StartBroker, passwd: Path, tmp_path: Path) -> None:
    """%u is the authenticated user name; a client without one never matches a %u rule."""
    acl = tmp_path / "acl.toml"
    acl.write_text(ACL)
    bt = start_broker(authentication={"password_file": str(passwd)},
                      authorization={"acl_file": str(acl), "no_match": "deny"})
    with raw_client(bt.port, V5) as c:
        c.connect("any-id", username="alice", password=b"wonderland")
        c.send(Publish(topic="users/alice/x", payload=b"a", qos=1, packet_id=1))
        assert c.recv() == Puback(packet_id=1, reason_code=0x10)  # allowed; no subscribers
        c.send(Publish(topic="users/bob/x", payload=b"b", qos=1, packet_id=2))
        assert c.recv() == Puback(packet_id=2, reason_code=0x87)
    with raw_client(bt.port, V5) as c:
        c.connect("anonymous")
        c.send(Publish(topic="users/alice/x", payload=b"a", qos=1, packet_id=1))
        assert c.recv() == Puback(packet_id=1, reason_code=0x87)


def test_will_to_a_denied_topic_is_not_published(acl_broker: Callable[..., BrokerThread]) -> None:
    """The will is published with the client's own permissions, so it cannot bypass the ACL."""
    bt = acl_broker()
    sub = open_watcher(bt, "readonly/#")
    try:
        with raw_client(bt.port, V5) as c:
            c.connect("sly", will=Will(topic="readonly/will", payload=b"x", qos=1))
        wait_for(lambda: session_gone(bt, "sly"))
        sub.expect_silence(0.2)
    finally:
        sub.close()
