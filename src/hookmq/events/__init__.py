"""EMQX-compatible event payloads, built only when someone listens.

`builders` turns broker hook callbacks into the JSON objects EMQX 5 sends (field for field), `catalogue`
describes every event for the API, dashboard and CLI, and `hub.EventHub` is the hook that connects them to
listeners (webhooks, ``hookmq events tail``).
"""
