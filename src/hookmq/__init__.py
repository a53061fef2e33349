"""hookmq: an MQTT broker whose every message and client event can be forwarded to HTTP endpoints."""

__version__ = "0.1.0"
