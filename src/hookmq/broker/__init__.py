"""The MQTT broker: listeners, connections, sessions, routing, retained messages, wills, auth and the hook point.

Data flows one way: transport → `MqttConnection` (codec) → ``handlers/`` → `Broker` → bus → `Session` →
transport. Nothing here imports the events, webhooks or API layers; they attach through `Hooks`.
"""

from .broker import Broker
from .clientinfo import ClientInfo
from .hooks import Hook, HookEvent, Hooks
from .message import Message

__all__ = ["Broker", "ClientInfo", "Hook", "HookEvent", "Hooks", "Message"]
