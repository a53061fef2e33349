"""Listeners: one module per transport, each turning accepted connections into `MqttConnection`s."""
