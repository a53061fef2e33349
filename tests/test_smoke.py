from __future__ import annotations

from hookmq.mqtt import Publish, Suback, Subscribe, Subscription
from tests.helpers import BrokerThread, raw_client


def test_publish_reaches_subscriber(broker: BrokerThread) -> None:
    with raw_client(broker.port) as sub, raw_client(broker.port) as pub:
        assert sub.connect("sub").reason_code == 0
        sub.send(Subscribe(packet_id=1, subscriptions=(Subscription(topic_filter="a/+", qos=1),)))
        assert sub.recv() == Suback(packet_id=1, reason_codes=(1,))
        pub.connect("pub")
        pub.send(Publish(topic="a/b", payload=b"hi"))
        got = sub.recv()
        assert isinstance(got, Publish) and got.topic == "a/b" and got.payload == b"hi"
