"""The HTTP side: health today; REST API, dashboard and /metrics sit here on top of the broker."""
