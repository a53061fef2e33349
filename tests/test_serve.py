"""``hookmq serve`` as a real subprocess: the listening line, health endpoint, exit status 2 for bad settings and
taken ports, configuration precedence, graceful SIGTERM and durability across restarts (README "Running the
broker", "Configuration", "Durability")."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from hookmq import __version__
from hookmq.mqtt import (
    NEED_DATA,
    Connack,
    Connect,
    Decoder,
    Disconnect,
    PropertyId,
    ProtocolVersion,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    ReasonCode,
    Suback,
    Subscribe,
    Subscription,
    Will,
    encode,
)
from tests.helpers import ROOT, BrokerProcess, RawClient, raw_client, wait_for

V4 = ProtocolVersion.MQTT_3_1_1
V5 = ProtocolVersion.MQTT_5
BINARY = bytes(range(256)) + b"\x00\xff"


def run_hookmq(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hookmq", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})), cwd=ROOT, stdin=subprocess.DEVNULL)


def serve_args(data_dir: Path, *extra: str) -> list[str]:
    return ["serve", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--mqtt-port", "0", "--ws-port", "0",
            "--http-port", "0", *extra]


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[..., BrokerProcess]]:
    """Factory of started ``hookmq serve`` subprocesses; every one is stopped afterwards."""
    started: list[BrokerProcess] = []

    def start(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> BrokerProcess:
        proc = BrokerProcess(data_dir or tmp_path / "data", *args, env=env)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()


def get_json(port: int, path: str = "/api/v1/health") -> tuple[int, str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), json.loads(resp.read())


def taken_port() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# ------------------------------------------------------------------ start-up


def test_version_flag() -> None:
    result = run_hookmq("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"hookmq, version {__version__}"


def test_listening_line_names_every_listener_and_health_answers(processes: Callable[..., BrokerProcess]) -> None:
    node = processes()
    assert set(node.addresses) == {"mqtt", "ws", "http"}  # no TLS listeners without listeners.certfile
    assert all(host == "127.0.0.1" and port > 0 for host, port in node.addresses.values())
    assert len({port for _, port in node.addresses.values()}) == 3
    assert sum("listening mqtt=" in line for line in node.output().splitlines()) == 1

    status, ctype, body = get_json(node.addresses["http"][1])
    assert status == 200
    assert ctype.startswith("application/json")
    assert body["status"] == "ok"
    assert body["node"] == "hookmq@127.0.0.1"
    assert body["version"] == __version__
    assert body["connections"] == 0
    assert get_json(node.addresses["http"][1], "/health")[2]["status"] == "ok"

    with raw_client(node.port) as client:
        assert client.connect("health-probe").reason_code == 0
        assert get_json(node.addresses["http"][1])[2]["connections"] == 1


@pytest.mark.parametrize(("flag", "setting"), [
    ("--mqtt-port", "listeners.mqtt_port"),
    ("--ws-port", "listeners.ws_port"),
    ("--http-port", "listeners.http_port"),
])
def test_taken_port_exits_2_naming_the_setting(tmp_path: Path, flag: str, setting: str) -> None:
    with taken_port() as sock:
        port = sock.getsockname()[1]
        result = run_hookmq(*serve_args(tmp_path / "data", flag, str(port)))
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    naming = [line for line in lines if setting in line]
    assert len(naming) == 1, lines
    assert str(port) in naming[0]
    assert lines[-1] == naming[0]


def test_taken_port_message_is_the_only_line_at_warning_level(tmp_path: Path) -> None:
    with taken_port() as sock:
        port = sock.getsockname()[1]
        result = run_hookmq(*serve_args(tmp_path / "data", "--mqtt-port", str(port), "--log-level", "warning"))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = error_lines(result.stderr)
    assert len(lines) == 1, lines
    assert "listeners.mqtt_port" in lines[0] and str(port) in lines[0]


@pytest.mark.parametrize(("env", "expected"), [
    ({"HOOKMQ_MQTT__MAX_PACKET_SIZE": "abc"}, ["mqtt.max_packet_size", "abc"]),
    ({"HOOKMQ_MQTT__MAX_PACKET_SIZE": "1"}, ["mqtt.max_packet_size"]),
    ({"HOOKMQ_LOG_LEVEL": "chatty"}, ["log_level", "chatty"]),
    ({"HOOKMQ_STORAGE__COMMIT_INTERVALL_MS": "5"}, ["storage.commit_intervall_ms"]),
])
def test_bad_setting_from_environment_exits_2(tmp_path: Path, env: dict[str, str], expected: list[str]) -> None:
    result = run_hookmq(*serve_args(tmp_path / "data"), env=env)
    assert result.returncode == 2, result
    lines = error_lines(result.stderr)
    assert len(lines) == 1, lines
    assert all(word in lines[0] for word in expected), lines
    assert not (tmp_path / "data").exists(), "nothing is started (or created) with a bad setting"


@pytest.mark.parametrize(("toml", "expected"), [
    ("[mqtt]\nmax_packet_sise = 4096\n", ["mqtt.max_packet_sise", "unknown"]),
    ('[mqtt]\nmax_packet_size = "big"\n', ["mqtt.max_packet_size", "big"]),
    ("[listeners]\ntls_port = 65536\n", ["listeners.tls_port"]),
    ("[listener]\nmqtt_port = 1883\n", ["listener"]),
    ("[mqtt\nmax_packet_size = 1\n", ["TOML"]),
])
def test_bad_config_file_exits_2(tmp_path: Path, toml: str, expected: list[str]) -> None:
    config = tmp_path / "hookmq.toml"
    config.write_text(toml)
    result = run_hookmq(*serve_args(tmp_path / "data", "--config", str(config)))
    assert result.returncode == 2, result
    lines = error_lines(result.stderr)
    assert len(lines) == 1, lines
    assert all(word in lines[0] for word in expected), lines
    assert str(config) in lines[0]


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist.toml"
    result = run_hookmq(*serve_args(tmp_path / "data", "--config", str(missing)))
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and str(missing) in lines[0], lines


def test_bad_flag_value_exits_2(tmp_path: Path) -> None:
    result = run_hookmq(*serve_args(tmp_path / "data", "--node-name", "no-at-sign"))
    assert result.returncode == 2
    assert "node_name" in result.stderr


def start_outcome(tmp_path: Path, env: dict[str, str]) -> tuple[int | None, str]:
    """Start ``hookmq serve``; (exit status, output) if it exits before listening, else (None, output)."""
    proc = BrokerProcess(tmp_path / "data", env=env)
    try:
        proc.start()
    except AssertionError:
        pass
    finally:
        proc.stop()  # a running broker is stopped at once, so a wrong outcome fails fast
    listening = any("listening mqtt=" in line for line in proc.output().splitlines())
    return (None if listening else proc.proc.returncode), proc.output()  # type: ignore[union-attr]


def _file_setting_cases() -> list[Any]:
    return [
        pytest.param("HOOKMQ_AUTHORIZATION__ACL_FILE", "acl.toml", '[[rules]]\npermission = "maybe"\n',
                     "rules[1].permission", id="malformed-acl"),
        pytest.param("HOOKMQ_AUTHORIZATION__ACL_FILE", "missing-acl.toml", None, "missing-acl.toml",
                     id="missing-acl"),
        pytest.param("HOOKMQ_LISTENERS__CERTFILE", "missing.crt", None, "listeners.certfile", id="missing-certfile"),
        pytest.param("HOOKMQ_DATA_DIR", "a-file", "", "data_dir", id="data-dir-is-a-file"),
        pytest.param("HOOKMQ_AUTHENTICATION__PASSWORD_FILE", "passwd", "this line has no colon\n", "passwd:1",
                     id="malformed-password-file"),
        pytest.param("HOOKMQ_AUTHENTICATION__PASSWORD_FILE", "missing-passwd", None, "missing-passwd",
                     id="missing-password-file"),
    ]


@pytest.mark.parametrize(("variable", "name", "content", "named"), _file_setting_cases())
def test_bad_file_setting_exits_2(tmp_path: Path, variable: str, name: str, content: str | None,
                                  named: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    # HOOKMQ_DATA_DIR is overridden by the harness's --data-dir flag, so that case uses the long form
    env = {"HOOKMQ_DATA_DIR": str(path)} if variable == "HOOKMQ_DATA_DIR" else {variable: str(path)}
    if variable == "HOOKMQ_DATA_DIR":
        result = run_hookmq("serve", "--host", "127.0.0.1", "--mqtt-port", "0", "--ws-port", "0", "--http-port", "0",
                            env=env, timeout=20)
        status, output = result.returncode, result.stderr
    else:
        status, output = start_outcome(tmp_path, env)
    assert status == 2, output
    last = error_lines(output)[-1]
    assert last.startswith("hookmq: ") and named in last, output
    assert "Traceback" not in output


# ------------------------------------------------------------------ precedence: file < environment < flags


def node_seen(node: BrokerProcess) -> tuple[str, str, int]:
    """(node name from /health, node name from a $SYS topic, Maximum Packet Size from an MQTT 5 CONNACK)."""
    health = get_json(node.addresses["http"][1])[2]["node"]
    with raw_client(node.port, V5) as client:
        ack = client.connect("precedence-probe")
        client.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="$SYS/brokers/+/version"),)))
        assert isinstance(client.recv(), Suback)
        sys_msg = client.recv()  # retained, published at start
        assert isinstance(sys_msg, Publish)
        sys_node = sys_msg.topic.split("/")[2]
    return health, sys_node, ack.properties[PropertyId.MAXIMUM_PACKET_SIZE]


def test_environment_overrides_file_and_flags_override_environment(tmp_path: Path,
                                                                   processes: Callable[..., BrokerProcess]) -> None:
    config = tmp_path / "hookmq.toml"
    config.write_text('node_name = "file@host"\n[mqtt]\nmax_packet_size = 4096\n[listeners]\nmqtt_port = 1\n')

    from_file = processes("--config", str(config), data_dir=tmp_path / "d1")
    assert node_seen(from_file) == ("file@host", "file@host", 4096)
    from_file.stop()

    with taken_port() as sock:
        env = {"HOOKMQ_NODE_NAME": "env@host", "HOOKMQ_MQTT__MAX_PACKET_SIZE": "8192",
               # the --mqtt-port 0 flag of the harness must win over both file and environment
               "HOOKMQ_MQTT_PORT": str(sock.getsockname()[1])}
        from_env = processes("--config", str(config), data_dir=tmp_path / "d2", env=env)
        assert node_seen(from_env) == ("env@host", "env@host", 8192)
        from_env.stop()

        from_flag = processes("--config", str(config), "--node-name", "flag@host", data_dir=tmp_path / "d3", env=env)
        assert node_seen(from_flag) == ("flag@host", "flag@host", 8192)


def test_data_dir_from_environment(tmp_path: Path) -> None:
    # BrokerProcess always passes --data-dir, so the HOOKMQ_DATA_DIR alias is driven here directly
    data_dir = tmp_path / "env-data"
    log_path = tmp_path / "env-data.log"
    cmd = [sys.executable, "-m", "hookmq", "serve", "--host", "127.0.0.1", "--mqtt-port", "0", "--ws-port", "0",
           "--http-port", "0"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                                env=dict(os.environ, HOOKMQ_DATA_DIR=str(data_dir)))
        try:
            wait_for(lambda: "listening mqtt=" in log_path.read_text() or proc.poll() is not None, 20, "listening")
            assert proc.poll() is None, log_path.read_text()
            assert (data_dir / "hookmq.db").exists()
            assert not (tmp_path / "data").exists()
        finally:
            proc.terminate()
            assert proc.wait(20) == 0


# ------------------------------------------------------------------ shutdown


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_disconnects_mqtt5_clients_with_0x8b_and_exits_0(processes: Callable[..., BrokerProcess],
                                                                sig: int) -> None:
    node = processes()
    v5 = RawClient(node.port, V5)
    v3 = RawClient(node.port, V4)
    try:
        assert v5.connect("v5-client").reason_code == 0
        assert v3.connect("v3-client").reason_code == 0
        node.signal(sig)
        packets = v5.recv_until_closed(timeout=10)
        assert packets == [Disconnect(reason_code=0x8B)]
        assert v3.recv_until_closed(timeout=10) == []  # MQTT 3.x has no server DISCONNECT: just closed
        assert node.wait(20) == 0
    finally:
        v5.close()
        v3.close()
    assert "stopped" in node.output()


def test_sigterm_disconnects_mqtt5_websocket_clients_with_0x8b(processes: Callable[..., BrokerProcess]) -> None:
    node = processes()
    url = f"ws://127.0.0.1:{node.addresses['ws'][1]}/mqtt"
    with connect(url, subprotocols=["mqtt"], open_timeout=10) as ws:
        ws.send(encode(Connect(protocol_version=V5, client_id="ws-v5"), V5))
        decoder = Decoder(protocol_version=V5)
        packets: list[Any] = []
        while not packets:
            decoder.receive_data(ws.recv(timeout=10))  # type: ignore[arg-type]
            packets.extend(iter(decoder.next_packet, NEED_DATA))
        assert isinstance(packets[0], Connack) and packets[0].reason_code == 0
        node.signal(signal.SIGTERM)
        try:
            while True:
                decoder.receive_data(ws.recv(timeout=10))  # type: ignore[arg-type]
                packets.extend(iter(decoder.next_packet, NEED_DATA))
        except ConnectionClosed:
            pass
    assert packets[1:] == [Disconnect(reason_code=0x8B)]
    assert node.wait(20) == 0


# ------------------------------------------------------------------ durability across restarts


def connect_persistent(port: int, version: int, client_id: str, clean: bool) -> tuple[RawClient, Connack]:
    """A persistent session: MQTT 5 with Session Expiry (``clean`` = Clean Start); MQTT 3.x with clean_session=0
    (a 3.x persistent session can only be asked for without a clean start, so ``clean`` does not apply)."""
    client = RawClient(port, version)
    if version == V5:
        return client, client.connect(client_id, clean_start=clean,
                                      properties={PropertyId.SESSION_EXPIRY_INTERVAL: 3600})
    return client, client.connect(client_id, clean_start=False)


def subscribe(client: RawClient, topic_filter: str, qos: int = 1) -> None:
    client.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter=topic_filter, qos=qos),)))
    ack = client.recv()
    assert isinstance(ack, Suback) and ack.reason_codes == (qos,), ack


def publish_acked(client: RawClient, topic: str, payload: bytes, packet_id: int, retain: bool = False) -> None:
    client.send(Publish(topic=topic, payload=payload, qos=1, packet_id=packet_id, retain=retain))
    ack = client.recv()
    assert isinstance(ack, Puback) and ack.packet_id == packet_id, ack


@pytest.mark.parametrize("how", ["graceful", "sigkill"])
def test_retained_and_queued_messages_survive_a_restart(tmp_path: Path, processes: Callable[..., BrokerProcess],
                                                        how: str) -> None:
    data_dir = tmp_path / "durable"
    first = processes(data_dir=data_dir)

    # two offline persistent sessions (MQTT 5 with Session Expiry, MQTT 3.1.1 clean_session=false) ...
    for version, cid in ((V5, "keeper5"), (V4, "keeper3")):
        client, ack = connect_persistent(first.port, version, cid, clean=True)
        subscribe(client, "dur/#")
        client.send(Disconnect())
        assert client.recv_until_closed() == []
        client.close()
    # ... a connected one that receives messages but never acknowledges them (in flight at the stop) ...
    holder, _ = connect_persistent(first.port, V5, "holder", clean=True)
    subscribe(holder, "dur/#")
    # ... and a clean session, which must not come back
    with raw_client(first.port) as ephemeral:
        ephemeral.connect("ephemeral", clean_start=True)
        subscribe(ephemeral, "dur/#")

    payloads = [b"first", BINARY, b""]
    with raw_client(first.port) as pub:
        pub.connect("pusher")
        publish_acked(pub, "keep/state", BINARY, 1, retain=True)
        publish_acked(pub, "keep/deleted", b"old", 2, retain=True)
        for i, payload in enumerate(payloads):
            publish_acked(pub, f"dur/{i}", payload, 10 + i)
        if how == "sigkill":
            time.sleep(0.5)  # > storage.commit_interval_ms: "keep/deleted" is on disk before it is deleted
        publish_acked(pub, "keep/deleted", b"", 3, retain=True)  # deleting a retained message is durable too
    for i in range(len(payloads)):
        got = holder.recv()
        assert isinstance(got, Publish) and got.topic == f"dur/{i}" and not got.dup  # not acknowledged

    if how == "graceful":
        first.signal(signal.SIGTERM)
        assert first.wait() == 0
    else:
        time.sleep(0.5)  # well beyond storage.commit_interval_ms (20 ms): everything acknowledged is committed
        first.proc.kill()  # type: ignore[union-attr]
        assert first.wait() == -signal.SIGKILL
    holder.close()

    second = processes(data_dir=data_dir)
    assert "restored 3 sessions and 1 retained messages" in second.output()

    for version, cid in ((V5, "keeper5"), (V4, "keeper3")):
        client, ack = connect_persistent(second.port, version, cid, clean=False)
        try:
            assert ack.reason_code == 0 and ack.session_present is True, (cid, ack)
            for i, payload in enumerate(payloads):
                got = client.recv()
                assert isinstance(got, Publish), got
                assert (got.topic, got.payload, got.qos) == (f"dur/{i}", payload, 1), (cid, got)
                client.send(Puback(packet_id=got.packet_id or 0))
            client.expect_silence(0.2)
        finally:
            client.close()

    client, ack = connect_persistent(second.port, V5, "holder", clean=False)
    try:
        assert ack.session_present is True
        redelivered = [client.recv() for _ in payloads]
        # [MQTT-4.4.0-1] unacknowledged messages are re-sent, with DUP, in their original order
        assert [(p.topic, p.payload, p.dup) for p in redelivered] == [  # type: ignore[union-attr]
            (f"dur/{i}", payload, True) for i, payload in enumerate(payloads)]
    finally:
        client.close()

    client, ack = connect_persistent(second.port, V4, "ephemeral", clean=False)
    try:
        assert ack.session_present is False
    finally:
        client.close()

    with raw_client(second.port) as late:
        late.connect("late")
        subscribe(late, "keep/#")
        got = late.recv()
        assert isinstance(got, Publish)
        assert (got.topic, got.payload, got.retain) == ("keep/state", BINARY, True)
        late.expect_silence(0.2)


def test_qos2_state_and_v5_properties_survive_sigkill(tmp_path: Path, processes: Callable[..., BrokerProcess]) -> None:
    data_dir = tmp_path / "durable"
    first = processes(data_dir=data_dir)
    props = {PropertyId.USER_PROPERTY: [("k", "v1"), ("k", "v2")], PropertyId.CONTENT_TYPE: "text/plain",
             PropertyId.CORRELATION_DATA: b"\x00corr", PropertyId.RESPONSE_TOPIC: "reply/here"}

    holder, _ = connect_persistent(first.port, V5, "q2holder", clean=True)
    subscribe(holder, "q2/#", qos=2)
    # incoming QoS 2 left half-done: PUBREC received, PUBREL not sent yet
    holder.send(Publish(topic="elsewhere", payload=b"in", qos=2, packet_id=77))
    assert holder.recv() == Pubrec(packet_id=77, reason_code=ReasonCode.NO_MATCHING_SUBSCRIBERS)

    with raw_client(first.port, V5) as pub:
        pub.connect("pusher5")
        pub.send(Publish(topic="keep/props", payload=b"retained", qos=1, packet_id=1, retain=True,
                         properties={**props, PropertyId.MESSAGE_EXPIRY_INTERVAL: 3600}))
        assert isinstance(pub.recv(), Puback)
        for pid, topic in ((2, "q2/a"), (3, "q2/b")):
            pub.send(Publish(topic=topic, payload=topic.encode(), qos=2, packet_id=pid, properties=props))
            assert isinstance(pub.recv(), Pubrec)
            pub.send(Pubrel(packet_id=pid))
            assert isinstance(pub.recv(), Pubcomp)

    first_a = holder.recv()
    first_b = holder.recv()
    assert isinstance(first_a, Publish) and isinstance(first_b, Publish)
    assert (first_a.topic, first_b.topic) == ("q2/a", "q2/b")
    holder.send(Pubrec(packet_id=first_a.packet_id or 0))  # q2/a: second half pending (PUBREL sent, no PUBCOMP)
    assert holder.recv() == Pubrel(packet_id=first_a.packet_id or 0)
    # q2/b: never acknowledged at all

    time.sleep(0.5)  # > storage.commit_interval_ms
    first.proc.kill()  # type: ignore[union-attr]
    first.wait()
    holder.close()

    second = processes(data_dir=data_dir)
    holder, ack = connect_persistent(second.port, V5, "q2holder", clean=False)
    try:
        assert ack.session_present is True
        resent = [holder.recv(), holder.recv()]
        # [MQTT-4.4.0-1] PUBREL for the message the client already PUBRECed, PUBLISH with DUP for the other
        assert Pubrel(packet_id=first_a.packet_id or 0) in resent
        again = next(p for p in resent if isinstance(p, Publish))
        assert (again.topic, again.payload, again.qos, again.dup, again.packet_id) == (
            "q2/b", b"q2/b", 2, True, first_b.packet_id)
        assert again.properties == props
        holder.send(Pubcomp(packet_id=first_a.packet_id or 0))
        holder.send(Pubrec(packet_id=again.packet_id or 0))
        assert holder.recv() == Pubrel(packet_id=again.packet_id or 0)
        holder.send(Pubcomp(packet_id=again.packet_id or 0))
        # the incoming QoS 2 exchange is still known: PUBREL completes it
        holder.send(Pubrel(packet_id=77))
        assert holder.recv() == Pubcomp(packet_id=77, reason_code=0)
        holder.expect_silence(0.2)
    finally:
        holder.close()

    with raw_client(second.port, V5) as late:
        late.connect("late5")
        subscribe(late, "keep/#")
        got = late.recv()
        assert isinstance(got, Publish) and (got.payload, got.retain) == (b"retained", True)
        expiry = got.properties.pop(PropertyId.MESSAGE_EXPIRY_INTERVAL)
        assert 0 < expiry <= 3600
        assert got.properties == props


def test_will_of_a_client_cut_off_by_shutdown_reaches_a_persistent_session(
        tmp_path: Path, processes: Callable[..., BrokerProcess]) -> None:
    # [MQTT-3.1.2-8] the server closing the connection without a DISCONNECT 0x00 from the client publishes the will;
    # an offline persistent subscriber gets it queued, and the queue is flushed before the process exits.
    data_dir = tmp_path / "durable"
    first = processes(data_dir=data_dir)
    client, _ = connect_persistent(first.port, V5, "will-keeper", clean=True)
    subscribe(client, "lastwill/#")
    client.send(Disconnect())
    client.recv_until_closed()
    client.close()
    with raw_client(first.port, V5) as doomed:
        doomed.connect("doomed", will=Will(topic="lastwill/doomed", payload=b"cut off", qos=1))
        first.signal(signal.SIGTERM)
        assert doomed.recv_until_closed() == [Disconnect(reason_code=0x8B)]
    assert first.wait() == 0

    second = processes(data_dir=data_dir)
    client, ack = connect_persistent(second.port, V5, "will-keeper", clean=False)
    try:
        assert ack.session_present is True
        got = client.recv()
        assert isinstance(got, Publish) and (got.topic, got.payload) == ("lastwill/doomed", b"cut off")
    finally:
        client.close()
