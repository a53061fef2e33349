"""MQTT over TLS (8883-style listener) and secure WebSocket, with a certificate made by openssl for the test."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from tests.helpers import BrokerProcess, wait_for


def _client(transport: str, cafile: Path, received: list[bytes], done: threading.Event) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"tls-{transport}", transport=transport)
    client.tls_set(ca_certs=str(cafile), cert_reqs=ssl.CERT_REQUIRED)
    if transport == "websockets":
        client.ws_set_options(path="/mqtt")

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        received.append(msg.payload)
        done.set()

    client.on_message = on_message
    return client


def test_tls_and_wss_listeners_open_with_a_certificate(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    config = tmp_path / "hookmq.toml"
    config.write_text(f'[listeners]\ncertfile = "{cert}"\nkeyfile = "{key}"\ntls_port = 0\nwss_port = 0\n')
    proc = BrokerProcess(tmp_path / "data", "--config", str(config)).start()
    try:
        assert {"mqtt", "mqtts", "ws", "wss", "http"} <= set(proc.addresses)
        received: list[bytes] = []
        done = threading.Event()
        sub = _client("tcp", cert, received, done)
        sub.connect("127.0.0.1", proc.addresses["mqtts"][1])
        sub.subscribe("secure/#", qos=1)
        sub.loop_start()
        pub = _client("websockets", cert, [], threading.Event())
        pub.connect("127.0.0.1", proc.addresses["wss"][1])
        pub.loop_start()
        wait_for(lambda: sub.is_connected() and pub.is_connected(), message="TLS clients connected")
        wait_for(lambda: pub.publish("secure/1", b"over wss", qos=1).rc == 0 and done.wait(0.5), message="delivery")
        assert received[0] == b"over wss"
        for c in (sub, pub):
            c.disconnect()
            c.loop_stop()
    finally:
        proc.stop()
