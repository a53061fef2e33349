"""Sans-I/O MQTT 3.1 / 3.1.1 / 5.0 codec: packets, properties, reason codes, topic rules.

Nothing here touches a socket or an event loop, so every protocol path is testable with byte strings.
"""

from ._codec import MAX_POSSIBLE_PACKET_SIZE, NEED_DATA, Decoder, decode_all, encode, encode_publish
from ._errors import MalformedPacket, MqttError, PacketTooLarge, ProtocolViolation, UnsupportedProtocolVersion
from ._packets import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    PacketType,
    Pingreq,
    Pingresp,
    ProtocolVersion,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
    Will,
)
from ._properties import PROPERTY_NAMES, Properties, PropertyId, decode_properties, encode_properties, property_names
from ._reason import ReasonCode, connack_v3_code, reason_name
from ._topics import (
    INVALID_SHARE,
    SharedFilter,
    is_valid_topic_filter,
    is_valid_topic_name,
    parse_shared,
    topic_matches,
)

__all__ = [
    "INVALID_SHARE", "MAX_POSSIBLE_PACKET_SIZE", "NEED_DATA", "PROPERTY_NAMES", "Auth", "Connack", "Connect",
    "Decoder", "Disconnect", "MalformedPacket", "MqttError", "Packet", "PacketTooLarge", "PacketType", "Pingreq",
    "Pingresp", "Properties", "PropertyId", "ProtocolVersion", "ProtocolViolation", "Puback", "Pubcomp", "Publish",
    "Pubrec", "Pubrel", "ReasonCode", "SharedFilter", "Suback", "Subscribe", "Subscription", "Unsuback",
    "Unsubscribe", "UnsupportedProtocolVersion", "Will", "connack_v3_code", "decode_all", "decode_properties", "encode",
    "encode_properties", "encode_publish", "is_valid_topic_filter", "is_valid_topic_name", "parse_shared",
    "property_names", "reason_name", "topic_matches",
]
