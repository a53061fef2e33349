"""Interop with Debian's mosquitto_pub / mosquitto_sub, run as real subprocesses against a broker thread.

A background ``mosquitto_sub`` is only published to once the broker holds its subscription (checked on the
broker's loop), so there is no sleep anywhere; ``-W`` bounds every subscriber in case a message never comes.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hookmq import __version__
from hookmq.broker.auth import PasswordFile
from hookmq.broker.hooks import Hook, HookEvent
from tests.helpers import BrokerThread, require_tool, wait_for

VERSIONS = ["mqttv311", "mqttv5"]
TIMEOUT = 15
BINARY = bytes(range(256)) * 3 + b"\x00\n\r\xff" + "ünïcödé".encode()


@pytest.fixture
def pub_bin() -> str:
    return require_tool("mosquitto_pub")


@pytest.fixture
def sub_bin() -> str:
    return require_tool("mosquitto_sub")


class Sub:
    """A running ``mosquitto_sub``."""

    def __init__(self, broker: BrokerThread, exe: str, client_id: str, args: list[str]) -> None:
        self.broker = broker
        self.client_id = client_id
        self.proc = subprocess.Popen([exe, "-h", "127.0.0.1", "-p", str(broker.port), "-i", client_id,
                                      "-W", str(TIMEOUT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def wait_subscribed(self, *filters: str) -> None:
        def subscribed() -> bool:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"mosquitto_sub exited with {self.proc.returncode}: {out!r} {err!r}")
            session = self.broker.call(lambda: self.broker.broker.sessions.get(self.client_id))
            return session is not None and session.connection is not None and all(
                f in session.subscriptions for f in filters)

        wait_for(subscribed, TIMEOUT, f"mosquitto_sub {self.client_id} subscribed to {filters}")

    def result(self) -> tuple[int, bytes, bytes]:
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT + 5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"mosquitto_sub did not finish: {out!r} {err!r}") from None
        return self.proc.returncode, out, err

    def output(self) -> bytes:
        rc, out, err = self.result()
        assert rc == 0, (rc, out, err)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def sub(broker: BrokerThread, sub_bin: str) -> Iterator[Callable[..., Sub]]:
    started: list[Sub] = []

    def start(*args: str, client_id: str | None = None, node: BrokerThread | None = None) -> Sub:
        s = Sub(node or broker, sub_bin, client_id or f"msub-{uuid.uuid4().hex[:8]}", list(args))
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def publish(port: int, exe: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([exe, "-h", "127.0.0.1", "-p", str(port), *args], capture_output=True, timeout=TIMEOUT)
    if check:
        assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


def unique(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ publish / subscribe


@pytest.mark.parametrize("version", ["mqttv31", *VERSIONS])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pub_sub_each_qos(broker: BrokerThread, sub: Callable[..., Sub], pub_bin: str, version: str,
                          qos: int) -> None:
    topic = unique("mq")
    s = sub("-V", version, "-q", "2", "-t", topic + "/#", "-C", "2", "-F", "%t|%q|%r|%p")
    s.wait_subscribed(topic + "/#")
    publish(broker.port, pub_bin, "-V", version, "-q", str(qos), "-t", f"{topic}/a", "-m", "hello world")
    publish(broker.port, pub_bin, "-V", version, "-q", str(qos), "-t", f"{topic}/b/c", "-m", "second")
    assert s.output().decode().splitlines() == [f"{topic}/a|{qos}|0|hello world", f"{topic}/b/c|{qos}|0|second"]


@pytest.mark.parametrize("version", VERSIONS)
def test_readme_example(broker: BrokerThread, sub: Callable[..., Sub], pub_bin: str, version: str) -> None:
    seen: list[tuple[str, str, bytes]] = []

    class Recorder(Hook):
        provides = frozenset({HookEvent.MESSAGE_PUBLISH})

        def on_message_publish(self, message: Any) -> None:
            seen.append((message.from_clientid, message.topic, message.payload))

    broker.call(broker.broker.hooks.add, Recorder())
    s = sub("-V", version, "-t", "t/#", "-v", "-C", "1")
    s.wait_subscribed("t/#")
    publish(broker.port, pub_bin, "-V", version, "-i", "emqx_c", "-t", "t/1", "-m", '{ "msg": "Hello Webhook" }')
    assert s.output() == b't/1 { "msg": "Hello Webhook" }\n'
    assert seen == [("emqx_c", "t/1", b'{ "msg": "Hello Webhook" }')]


@pytest.mark.parametrize("version", VERSIONS)
def test_binary_file_payload_arrives_intact(broker: BrokerThread, sub: Callable[..., Sub], pub_bin: str,
                                            tmp_path: Path, version: str) -> None:
    payload_file = tmp_path / "payload.bin"
    payload_file.write_bytes(BINARY)
    topic = unique("bin")
    s = sub("-V", version, "-q", "1", "-t", topic, "-C", "1", "-N")
    s.wait_subscribed(topic)
    publish(broker.port, pub_bin, "-V", version, "-q", "1", "-t", topic, "-f", str(payload_file))
    assert s.output() == BINARY


def test_large_payload_from_stdin(broker: BrokerThread, sub: Callable[..., Sub], pub_bin: str) -> None:
    big = bytes(range(256)) * 2048  # 512 KiB, below the 1 MiB default maximum packet size
    topic = unique("big")
    s = sub("-q", "1", "-t", topic, "-C", "1", "-N")
    s.wait_subscribed(topic)
    result = subprocess.run([pub_bin, "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-t", topic, "-s"],
                            input=big, capture_output=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert s.output() == big


def test_v5_properties_pass_through(broker: BrokerThread, sub: Callable[..., Sub], pub_bin: str) -> None:
    topic = unique("props")
    s = sub("-V", "mqttv5", "-t", topic, "-C", "1", "-F", "%P|%C|%R|%D|%E|%p")
    s.wait_subscribed(topic)
    publish(broker.port, pub_bin, "-V", "mqttv5", "-q", "1", "-t", topic, "-m", "body",
            "-D", "publish", "user-property", "k1", "v1", "-D", "publish", "user-property", "k2", "v2",
            "-D", "publish", "content-type", "text/x", "-D", "publish", "response-topic", "resp/topic",
            "-D", "publish", "correlation-data", "corr-7", "-D", "publish", "message-expiry-interval", "100")
    props, ctype, resp, corr, expiry, body = s.output().decode().rstrip("\n").split("|")
    assert (props, ctype, resp, corr, body) == ("k1:v1 k2:v2", "text/x", "resp/topic", "corr-7", "body")
    assert 0 < int(expiry) <= 100


def test_request_response_with_mosquitto_rr(broker: BrokerThread) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from tests.interop.test_paho import PahoClient

    rr = require_tool("mosquitto_rr")
    responder = PahoClient(broker.port, mqtt.MQTTv5, "responder-" + uuid.uuid4().hex[:6])
    requests: list[mqtt.MQTTMessage] = []

    def answer(client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        requests.append(message)
        props = Properties(PacketTypes.PUBLISH)
        correlation = getattr(message.properties, "CorrelationData", None)
        if correlation is not None:
            props.CorrelationData = correlation
        reply_to = getattr(message.properties, "ResponseTopic", "no/response/topic")
        client.publish(reply_to, b"pong:" + message.payload, qos=1, properties=props)

    responder.client.on_message = answer
    try:
        responder.connect()
        responder.subscribe("service/ping", 1)
        result = subprocess.run([rr, "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5", "-q", "1",
                                 "-t", "service/ping", "-e", "service/reply/" + uuid.uuid4().hex[:6],
                                 "-m", "ping", "-D", "publish", "correlation-data", "corr-42", "-W", str(TIMEOUT)],
                                capture_output=True, timeout=TIMEOUT + 5)
    finally:
        responder.disconnect()
    assert result.returncode == 0, result
    assert result.stdout == b"pong:ping\n"
    assert len(requests) == 1
    assert requests[0].properties.CorrelationData == b"corr-42"


# ------------------------------------------------------------------ retained


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_set_received_and_deleted(broker: BrokerThread, sub: Callable[..., Sub], pub_bin: str,
                                           version: str) -> None:
    topic = unique("ret")
    publish(broker.port, pub_bin, "-V", version, "-q", "1", "-r", "-t", topic, "-m", "kept")

    first = sub("-V", version, "-t", topic, "-C", "1", "-F", "%r|%t|%p")
    assert first.output() == f"1|{topic}|kept\n".encode()

    # -r -n: an empty retained message deletes it [MQTT-3.3.1-10]
    publish(broker.port, pub_bin, "-V", version, "-q", "1", "-r", "-n", "-t", topic)
    assert broker.call(lambda: len(list(broker.broker.retained.match(topic)))) == 0

    fence = unique("fence")
    later = sub("-V", version, "-t", topic, "-t", fence, "-C", "1", "-F", "%r|%t|%p")
    later.wait_subscribed(topic, fence)
    publish(broker.port, pub_bin, "-V", version, "-t", fence, "-m", "after")
    assert later.output() == f"0|{fence}|after\n".encode(), "the deleted retained message must not be sent"


# ------------------------------------------------------------------ $SYS


SYS_NAMES = {
    "version", "uptime", "datetime", "stats/connections/count", "stats/connections/max", "stats/sessions/count",
    "stats/subscriptions/count", "stats/subscriptions/shared/count", "stats/retained/count",
    "metrics/messages/received", "metrics/messages/sent", "metrics/messages/dropped", "metrics/delivery/dropped",
    "metrics/bytes/received", "metrics/bytes/sent",
}


def test_sys_topics(start_broker: Callable[..., BrokerThread], sub: Callable[..., Sub]) -> None:
    node = start_broker(mqtt={"sys_interval": 0.1})
    name = node.settings.node_name
    prefix = f"$SYS/brokers/{name}/"
    s = sub("-t", "$SYS/#", "-C", str(len(SYS_NAMES)), "-F", "%r|%t|%p", node=node)
    lines = s.output().decode().splitlines()
    got = {}
    for line in lines:
        retain, topic, value = line.split("|", 2)
        assert retain == "1", line  # sent as retained on subscribe
        assert topic.startswith(prefix), line
        got[topic[len(prefix):]] = value
    assert set(got) == SYS_NAMES
    assert got["version"] == __version__
    assert got["uptime"].isdigit()
    assert all(got[k].isdigit() for k in SYS_NAMES if k.startswith(("stats/", "metrics/")))


def test_sys_statistics_are_refreshed(start_broker: Callable[..., BrokerThread], sub: Callable[..., Sub]) -> None:
    node = start_broker(mqtt={"sys_interval": 0.1})
    topic = f"$SYS/brokers/{node.settings.node_name}/stats/connections/count"
    # the retained value may predate this subscriber; a later one counts it
    s = sub("-t", topic, "-C", "3", "-F", "%p", node=node)
    values = [int(v) for v in s.output().split()]
    assert values[-1] >= 1


def test_hash_does_not_match_sys_topics(start_broker: Callable[..., BrokerThread], sub: Callable[..., Sub],
                                        pub_bin: str) -> None:
    node = start_broker(mqtt={"sys_interval": 0.1})
    s = sub("-t", "#", "-C", "1", "-F", "%t", node=node)
    s.wait_subscribed("#")
    # [MQTT-4.7.2-1] the retained $SYS messages (published at start) would have followed the SUBACK at once
    publish(node.port, pub_bin, "-t", "plain/topic", "-m", "x")
    assert s.output() == b"plain/topic\n"


def test_publish_to_sys_is_refused(broker: BrokerThread, sub: Callable[..., Sub], pub_bin: str) -> None:
    s = sub("-t", "$SYS/#", "-t", "ok/fence", "-C", "1", "-F", "%t")
    s.wait_subscribed("$SYS/#", "ok/fence")
    publish(broker.port, pub_bin, "-t", "$SYS/brokers/fake", "-m", "spoof", "-q", "1")
    publish(broker.port, pub_bin, "-t", "ok/fence", "-m", "fence")
    assert s.output() == b"ok/fence\n"


# ------------------------------------------------------------------ authentication


@pytest.fixture
def auth_broker(start_broker: Callable[..., BrokerThread], tmp_path: Path) -> BrokerThread:
    users = PasswordFile(tmp_path / "passwd")
    users.add("alice", "s3cret")
    users.add("bob", "hunter2")
    users.save()
    return start_broker(authentication={"password_file": str(tmp_path / "passwd"), "allow_anonymous": False})


@pytest.mark.parametrize(("version", "bad_rc", "anon_rc", "bad_text", "anon_text"), [
    ("mqttv31", 4, 5, "bad user name or password", "not authorised"),
    ("mqttv311", 4, 5, "bad user name or password", "not authorised"),
    ("mqttv5", 0x86, 0x87, "Bad User Name or Password", "Not authorized"),
])
def test_password_file_authentication(auth_broker: BrokerThread, sub: Callable[..., Sub], pub_bin: str,
                                      version: str, bad_rc: int, anon_rc: int, bad_text: str,
                                      anon_text: str) -> None:
    topic = unique("auth")
    s = sub("-V", version, "-u", "bob", "-P", "hunter2", "-t", topic, "-C", "1", node=auth_broker)
    s.wait_subscribed(topic)

    good = publish(auth_broker.port, pub_bin, "-V", version, "-u", "alice", "-P", "s3cret", "-q", "1",
                   "-t", topic, "-m", "authorised")
    assert good.stderr == b""
    assert s.output() == b"authorised\n"

    # mosquitto_pub exits with the CONNACK code (3.x return code, or the MQTT 5 reason code)
    for creds in (["-u", "alice", "-P", "wrong"], ["-u", "mallory", "-P", "s3cret"], ["-u", "alice"]):
        bad = publish(auth_broker.port, pub_bin, "-V", version, *creds, "-t", topic, "-m", "x", check=False)
        assert bad.returncode == bad_rc, (creds, bad)
        assert bad_text in bad.stderr.decode(), bad.stderr
    anon = publish(auth_broker.port, pub_bin, "-V", version, "-t", topic, "-m", "x", check=False)
    assert anon.returncode == anon_rc, anon
    assert anon_text in anon.stderr.decode(), anon.stderr


def test_bad_password_on_subscriber(auth_broker: BrokerThread, sub: Callable[..., Sub]) -> None:
    s = sub("-V", "mqttv5", "-u", "alice", "-P", "nope", "-t", "x", node=auth_broker)
    rc, out, err = s.result()
    assert rc == 0x86
    assert out == b""
    assert b"Bad User Name or Password" in err


# ------------------------------------------------------------------ wills


@pytest.mark.parametrize("version", VERSIONS)
def test_will_published_when_the_client_dies(broker: BrokerThread, sub: Callable[..., Sub], version: str) -> None:
    will_topic = unique("will")
    watcher = sub("-V", version, "-q", "2", "-t", will_topic, "-C", "1", "-F", "%t|%q|%p")
    watcher.wait_subscribed(will_topic)
    idle = unique("idle")
    dying = sub("-V", version, "-t", idle, "--will-topic", will_topic, "--will-payload", "bye now",
                "--will-qos", "1", client_id="dying-" + uuid.uuid4().hex[:6])
    dying.wait_subscribed(idle)
    dying.proc.kill()  # SIGKILL: no DISCONNECT, the kernel just closes the socket
    assert watcher.output() == f"{will_topic}|1|bye now\n".encode()


@pytest.mark.parametrize("version", VERSIONS)
def test_no_will_after_a_normal_disconnect(broker: BrokerThread, sub: Callable[..., Sub], pub_bin: str,
                                           version: str) -> None:
    will_topic = unique("will")
    fence = unique("fence")
    watcher = sub("-V", version, "-t", will_topic, "-t", fence, "-C", "1", "-F", "%t")
    watcher.wait_subscribed(will_topic, fence)
    cid = "polite-" + uuid.uuid4().hex[:6]
    # mosquitto_pub sends DISCONNECT after publishing: the will is discarded
    publish(broker.port, pub_bin, "-V", version, "-i", cid, "-t", "some/where", "-m", "x", "--will-topic",
            will_topic, "--will-payload", "should not appear")
    wait_for(lambda: broker.call(lambda: cid not in broker.broker.sessions), message="session ended")
    publish(broker.port, pub_bin, "-V", version, "-t", fence, "-m", "fence")
    assert watcher.output() == f"{fence}\n".encode()


def test_retained_will(broker: BrokerThread, sub: Callable[..., Sub]) -> None:
    will_topic = unique("will")
    cid = "dying-" + uuid.uuid4().hex[:6]
    idle = unique("idle")
    dying = sub("-t", idle, "--will-topic", will_topic, "--will-payload", "offline", "--will-retain", client_id=cid)
    dying.wait_subscribed(idle)
    dying.proc.kill()
    wait_for(lambda: broker.call(lambda: cid not in broker.broker.sessions), message="session ended")
    later = sub("-t", will_topic, "-C", "1", "-F", "%r|%p")
    assert later.output() == b"1|offline\n"


# ------------------------------------------------------------------ persistent sessions


@pytest.mark.parametrize(("version", "session_args"), [("mqttv311", ["-c"]), ("mqttv5", ["-c", "-x", "600"])])
def test_persistent_session_with_clean_session_off(broker: BrokerThread, sub: Callable[..., Sub], pub_bin: str,
                                                   version: str, session_args: list[str]) -> None:
    topic = unique("persist")
    cid = "msub-persist-" + uuid.uuid4().hex[:6]
    # -E: subscribe, wait for the SUBACK, disconnect normally
    first = sub("-V", version, *session_args, "-q", "1", "-t", topic, "-E", client_id=cid)
    assert first.result()[0] == 0
    wait_for(lambda: broker.call(lambda: (s := broker.broker.sessions.get(cid)) is not None and s.connection is None),
             message="offline persistent session")
    for i in range(3):
        publish(broker.port, pub_bin, "-V", version, "-q", "1", "-t", topic, "-m", f"queued {i}")
    again = sub("-V", version, *session_args, "-q", "1", "-t", topic, "-C", "3", client_id=cid)
    assert again.output() == b"queued 0\nqueued 1\nqueued 2\n"
