"""MQTT 5 reason codes and the MQTT 3.x CONNACK/SUBACK return codes they map to.

Codes are one enum (`ReasonCode`); several MQTT 5 names share a value (0x00 is Success, Normal disconnection
and Granted QoS 0), so the aliases exist for readable call sites but compare equal.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ReasonCode", "connack_v3_code", "reason_name"]


class ReasonCode(IntEnum):
    SUCCESS = 0x00
    NORMAL_DISCONNECTION = 0x00
    GRANTED_QOS_0 = 0x00
    GRANTED_QOS_1 = 0x01
    GRANTED_QOS_2 = 0x02
    DISCONNECT_WITH_WILL_MESSAGE = 0x04
    NO_MATCHING_SUBSCRIBERS = 0x10
    NO_SUBSCRIPTION_EXISTED = 0x11
    CONTINUE_AUTHENTICATION = 0x18
    RE_AUTHENTICATE = 0x19
    UNSPECIFIED_ERROR = 0x80
    MALFORMED_PACKET = 0x81
    PROTOCOL_ERROR = 0x82
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83
    UNSUPPORTED_PROTOCOL_VERSION = 0x84
    CLIENT_IDENTIFIER_NOT_VALID = 0x85
    BAD_USERNAME_OR_PASSWORD = 0x86
    NOT_AUTHORIZED = 0x87
    SERVER_UNAVAILABLE = 0x88
    SERVER_BUSY = 0x89
    BANNED = 0x8A
    SERVER_SHUTTING_DOWN = 0x8B
    BAD_AUTHENTICATION_METHOD = 0x8C
    KEEP_ALIVE_TIMEOUT = 0x8D
    SESSION_TAKEN_OVER = 0x8E
    TOPIC_FILTER_INVALID = 0x8F
    TOPIC_NAME_INVALID = 0x90
    PACKET_IDENTIFIER_IN_USE = 0x91
    PACKET_IDENTIFIER_NOT_FOUND = 0x92
    RECEIVE_MAXIMUM_EXCEEDED = 0x93
    TOPIC_ALIAS_INVALID = 0x94
    PACKET_TOO_LARGE = 0x95
    MESSAGE_RATE_TOO_HIGH = 0x96
    QUOTA_EXCEEDED = 0x97
    ADMINISTRATIVE_ACTION = 0x98
    PAYLOAD_FORMAT_INVALID = 0x99
    RETAIN_NOT_SUPPORTED = 0x9A
    QOS_NOT_SUPPORTED = 0x9B
    USE_ANOTHER_SERVER = 0x9C
    SERVER_MOVED = 0x9D
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
    CONNECTION_RATE_EXCEEDED = 0x9F
    MAXIMUM_CONNECT_TIME = 0xA0
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2


# MQTT 3.1/3.1.1 CONNACK return codes (spec 3.2.2.3); the mapping follows MQTT 5 appendix / EMQX's compat table.
_CONNACK_V3: dict[int, int] = {
    ReasonCode.SUCCESS: 0x00,
    ReasonCode.UNSUPPORTED_PROTOCOL_VERSION: 0x01,
    ReasonCode.CLIENT_IDENTIFIER_NOT_VALID: 0x02,
    ReasonCode.SERVER_UNAVAILABLE: 0x03,
    ReasonCode.SERVER_BUSY: 0x03,
    ReasonCode.SERVER_SHUTTING_DOWN: 0x03,
    ReasonCode.BAD_USERNAME_OR_PASSWORD: 0x04,
    ReasonCode.NOT_AUTHORIZED: 0x05,
    ReasonCode.BANNED: 0x05,
}


def connack_v3_code(code: int) -> int:
    """Return the MQTT 3.x CONNACK return code for an MQTT 5 reason code (unknown failures: 'unavailable')."""
    return _CONNACK_V3.get(code, 0x03)


def reason_name(code: int) -> str:
    """The lower-case MQTT 5 name of a reason code, e.g. ``not_authorized`` (EMQX uses these in events)."""
    try:
        return ReasonCode(code).name.lower()
    except ValueError:
        return "unknown_error"
