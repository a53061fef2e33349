"""Errors raised by the codec. Each carries the MQTT 5 reason code the server should answer with.

Like h11's ``error_status_hint``: the codec knows *what* is wrong, the broker decides whether that becomes a
CONNACK, a DISCONNECT or just a closed socket (MQTT 3.x has no DISCONNECT from the server).
"""

from __future__ import annotations

from ._reason import ReasonCode

__all__ = ["MalformedPacket", "MqttError", "PacketTooLarge", "ProtocolViolation", "UnsupportedProtocolVersion"]


class MqttError(Exception):
    """Base of every codec error; ``reason_code`` is what a server sends back (when the version allows)."""

    reason_code: ReasonCode = ReasonCode.UNSPECIFIED_ERROR

    def __init__(self, message: str, reason_code: ReasonCode | None = None) -> None:
        super().__init__(message)
        if reason_code is not None:
            self.reason_code = reason_code


class MalformedPacket(MqttError):
    """The bytes cannot be parsed as the packet they claim to be (0x81)."""

    reason_code = ReasonCode.MALFORMED_PACKET


class ProtocolViolation(MqttError):
    """The packet parses but breaks a protocol rule (0x82 unless a more precise code applies)."""

    reason_code = ReasonCode.PROTOCOL_ERROR


class PacketTooLarge(MqttError):
    """The packet exceeds the negotiated maximum packet size (0x95)."""

    reason_code = ReasonCode.PACKET_TOO_LARGE


class UnsupportedProtocolVersion(MqttError):
    """CONNECT names a protocol level we do not speak; the CONNACK must use the v3 code 0x01 (0x84 in v5)."""

    reason_code = ReasonCode.UNSUPPORTED_PROTOCOL_VERSION
