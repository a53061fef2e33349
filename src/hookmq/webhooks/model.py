"""The webhook settings model: one `WebhookConfig` per ``[[webhooks]]`` entry, validated before anything runs.

One webhook is what the EMQX Webhook page saves as a connector, an action and a rule named ``<name>_WH_D``
(spec §1, §3.1-§3.4), flattened, plus hookmq's delivery settings (``delivery.md``: retry policy, ordering,
signing secret, byte budget, batching, payload encoding). Defaults follow EMQX where it has one.

Every error names the field and what is allowed (`describe_errors`), because a webhook that silently keeps
a default delivers to the wrong place or not at all. Secrets never appear in errors, ``repr`` or the API
(`WebhookConfig.public_dict` masks them as EMQX does, ``"******"``; `restore_masked` undoes that on update).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .matching import check_events, check_topics
from .templates import RequestTemplate, Template, check_header, split_url

__all__ = [
    "MASK", "SECRET_HEADERS", "RetryPolicy", "WebhookConfig", "WebhooksSection", "describe_errors", "generate_secret",
    "mask_headers", "restore_masked", "rule_id",
]

MASK: Final = "******"  # what EMQX shows for a secret
SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization"})  # kept secret, as EMQX does
SECRET_PREFIX: Final = "whsec_"
RULE_SUFFIX: Final = "_WH_D"
MIB, GIB = 1024 ** 2, 1024 ** 3
# Set by the HTTP client or by hookmq's signing (delivery.md "Signing"); a user value would be wrong or forged.
RESERVED_HEADERS: Final = frozenset({"content-length", "transfer-encoding", "webhook-id", "webhook-timestamp",
                                     "webhook-signature"})

_NAME = re.compile(r"[0-9a-zA-Z][-0-9a-zA-Z_]*")  # EMQX emqx_resource:validate_name


def rule_id(name: str) -> str:
    """The id EMQX gives a webhook's connector, action and rule (spec §1); it is also ``metadata.rule_id``."""
    return name + RULE_SUFFIX


def generate_secret(nbytes: int = 32) -> str:
    """A fresh signing secret in the Standard Webhooks form ``whsec_<base64>``."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(nbytes)).decode()


# ---------------------------------------------------------------------------------- durations and sizes

# Field -> (lowest, highest) in seconds, and the same for the error message.
_DURATION_LIMITS: Final[dict[str, tuple[float, float, str]]] = {
    "connect_timeout": (0.001, 300, "1ms to 5m"), "request_timeout": (0.001, 3600, "1ms to 1h"),
    "batch_time": (0, 60, "0 to 60s"), "initial_backoff": (0.001, 3600, "1ms to 1h"),
    "max_backoff": (0.001, 86400, "1ms to 1d"), "max_age": (1, 30 * 86400, "1s to 30d"),
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"(\d+)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?")
_POWERS: Final = "bkmgt"  # K, M, G, T are powers of 1024 ("256MB" = 256 MiB), as EMQX reads them


def _duration_field(value: Any, info: ValidationInfo) -> Any:
    """Durations as EMQX writes them ("15s", "500ms", "1h30m") or plain numbers: seconds, but ms for batch_time."""
    assert info.field_name is not None
    low, high, allowed = _DURATION_LIMITS[info.field_name]
    in_ms = info.field_name == "batch_time"
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if in_ms else float(value)
    elif isinstance(value, str) and re.fullmatch(f"(?:{_DURATION.pattern})+", text := value.strip().lower()):
        seconds = sum(float(n) * _SECONDS[unit] for n, unit in _DURATION.findall(text))
    if seconds is None or not low <= seconds <= high:
        raise ValueError(f"must be a duration from {allowed}: a number of {'milliseconds' if in_ms else 'seconds'} "
                         f"or a string like \"15s\", \"500ms\", \"5m\"; got {value!r}")
    return round(seconds * 1000) if in_ms else seconds


class _Model(BaseModel):  # hide_input_in_errors: str(ValidationError) must not print a secret
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class RetryPolicy(_Model):
    """When a failed delivery is tried again (delivery.md "Retry policy"): exponential backoff with full jitter."""

    initial_backoff: float = Field(1.0, description="seconds before the first retry")
    factor: float = Field(2.0, ge=1.0, le=10.0, description="each backoff is the previous one times this")
    max_backoff: float = Field(300.0, description="cap on one backoff, seconds")
    max_age: float = Field(86400.0, description="give up on an event this old, seconds")
    max_attempts: int = Field(0, ge=0, description="attempts in total, the first included (0 = unlimited)")
    retry_statuses: list[int] = [408, 425, 429, 500, 502, 503, 504]  # connection errors are always retried

    _durations = field_validator("initial_backoff", "max_backoff", "max_age", mode="before")(_duration_field)

    @field_validator("max_backoff")
    @classmethod
    def _not_below_initial(cls, value: float, info: ValidationInfo) -> float:
        initial = info.data.get("initial_backoff")
        if initial is not None and value < initial:
            raise ValueError(f"must be at least initial_backoff ({initial:g} s), got {value:g} s")
        return value

    @field_validator("retry_statuses")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        for status in value:
            if not 300 <= status <= 599:
                raise ValueError(f"must be HTTP statuses from 300 to 599 (2xx is success), got {status}")
        if len(set(value)) != len(value):
            raise ValueError(f"lists a status twice: {value}")
        return sorted(value)


class WebhookConfig(_Model):
    """One webhook: what triggers it, where and how it delivers, and how hard it tries."""

    name: str = Field(description="letters, digits, '-', '_'; the rule id is <name>_WH_D")
    description: str = ""
    enable: bool = True
    # Trigger (spec §3.1): ["all"] = every message and event, else catalogue names.
    events: list[str] = Field(["message.publish"])
    topics: list[str] = Field([], description="topic filters for message events ([] = every topic, as \"#\")")
    # Request (spec §3.2, §3.3).
    method: Literal["POST", "PUT", "GET", "DELETE"] = "POST"
    url: str = Field(description="http:// or https:// URL; ${var} allowed in the path and query")
    headers: dict[str, str] = {"content-type": "application/json"}  # a table replaces it; values may use ${var}
    body: str | None = Field(None, description="body template; unset = the whole event JSON with metadata")
    payload_encoding: Literal["plain", "base64"] = "plain"
    connect_timeout: float = Field(15.0, description="seconds to open a connection (TCP and TLS)")
    request_timeout: float = Field(15.0, description="seconds to wait for a response")
    pool_size: int = Field(8, ge=1, le=1024, description="persistent HTTP connections")
    # 32 = mqtt.max_inflight's default: 4 requests per connection of the default pool hide the network round
    # trip, yet a small receiver is not flooded (EMQX allows 16 workers x 100 = 1600 in flight). Events are
    # durable, so nothing is lost by waiting in the queue instead of on the wire.
    max_inflight: int = Field(32, ge=1, le=10_000, description="requests sent and not yet answered")
    ordering: Literal["none", "client", "topic"] = "none"
    retry: RetryPolicy = RetryPolicy()
    queue_max_bytes: int = Field(GIB, description="byte budget of the durable queue")
    overflow: Literal["drop_oldest", "drop_new"] = "drop_oldest"
    dead_letters_max: int = Field(100_000, ge=0, description="dead letters kept, the oldest going first (0 = all)")
    secret: str | None = Field(None, description="Standard Webhooks signing secret: whsec_<base64 of 24-64 bytes>; "
                                                 "several, space-separated, while rotating")
    batch_size: int = Field(1, ge=1, le=1000, description="events per request (1 = no batching)")
    batch_time: int = Field(0, description="ms to wait for a batch to fill")

    _durations = field_validator("connect_timeout", "request_timeout", "batch_time", mode="before")(_duration_field)

    @field_validator("queue_max_bytes", mode="before")
    @classmethod
    def _bytes(cls, value: Any) -> Any:
        """Byte sizes as EMQX writes them ("256MB", "1GiB") or a number of bytes."""
        size = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and (m := _SIZE.fullmatch(value.strip().lower())):
            size = int(m[1]) * 1024 ** _POWERS.index((m[2] or "b")[0])
        if size is None or not MIB <= size <= 1024 * GIB:
            raise ValueError(f"must be a size from 1MiB to 1024GiB: a number of bytes or a string like \"512MB\", "
                             f"\"1GiB\"; got {value!r}")
        return size

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if _NAME.fullmatch(value) is None:
            raise ValueError(f"must start with a letter or digit and hold only letters, digits, '-' and '_' "
                             f"(EMQX: ^[0-9a-zA-Z][-0-9a-zA-Z_]*$), got {value!r}")
        if len(rule_id(value)) >= 255:  # EMQX checks the <name>_WH_D objects: shorter than 255
            raise ValueError(f"must be at most {254 - len(RULE_SUFFIX)} characters (the rule id {value[:8]}..."
                             f"{RULE_SUFFIX} must stay under 255), got {len(value)}")
        return value

    @field_validator("events", "topics", mode="before")
    @classmethod
    def _as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # events = "all" reads naturally in TOML

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return check_events(value)

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return check_topics(value, info.data.get("events"))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        split_url(value)
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            lower = str(key).lower()
            if lower in RESERVED_HEADERS:
                raise ValueError(f"{key!r} is set by hookmq; reserved: {', '.join(sorted(RESERVED_HEADERS))}")
            if lower in out:
                raise ValueError(f"{key!r} is given twice (header names are case-insensitive)")
            if isinstance(item, str):
                check_header(str(key), item)
            out[lower] = item
        return out

    @field_validator("body")
    @classmethod
    def _body(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            if info.data.get("method") in ("GET", "DELETE"):
                raise ValueError(f"{info.data['method']} requests carry no body; remove body or use POST or PUT")
            Template.compile(value)
        return value

    @field_validator("secret", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> Any:
        """One secret, or several separated by spaces while rotating: requests carry one signature per secret
        (Standard Webhooks), so receivers holding the old or the new one both verify."""
        if value is None or value == "":  # TOML has no null: secret = "" turns signing off
            return None
        if not isinstance(value, str):
            return value
        secrets = value.split()
        for n, secret in enumerate(secrets):
            which = f"secret {n + 1} of {len(secrets)}" if len(secrets) > 1 else "it"
            expected = "must be 'whsec_' followed by the base64 of 24 to 64 random bytes (several: space-separated)"
            if not secret.startswith(SECRET_PREFIX):
                raise ValueError(f"{expected}; {which} does not start with 'whsec_'")
            try:
                key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{expected}; the part after 'whsec_' of {which} is not valid base64") from None
            if not 24 <= len(key) <= 64:
                raise ValueError(f"{expected}; {which} decodes to {len(key)} bytes")
        if len(set(secrets)) != len(secrets):
            raise ValueError("lists the same secret twice")
        return " ".join(secrets)

    @field_validator("batch_size")
    @classmethod
    def _batch_size(cls, value: int, info: ValidationInfo) -> int:
        if value > 1:
            if info.data.get("body") is not None:
                raise ValueError("must be 1 when body is set (a batch is a JSON array of whole events)")
            if info.data.get("method") in ("GET", "DELETE"):
                raise ValueError(f"must be 1 with method {info.data['method']} (a batch needs a body)")
        return value

    # ------------------------------------------------------------------------------------------ derived

    @property
    def rule_id(self) -> str:
        return rule_id(self.name)

    def request_template(self) -> RequestTemplate:
        """The URL, headers and body compiled for rendering (compiled templates are shared, so this is cheap)."""
        return RequestTemplate.compile(self.url, self.headers, self.body)

    @property
    def signing_keys(self) -> list[bytes]:
        """The decoded secrets, HMAC-SHA256 keys of Standard Webhooks, current first ([] = requests are not
        signed)."""
        if self.secret is None:
            return []
        return [base64.b64decode(secret[len(SECRET_PREFIX):]) for secret in self.secret.split()]

    def public_dict(self) -> dict[str, Any]:
        """JSON-ready settings for the API and dashboard, with the secret and credential headers ``"******"``."""
        data = self.model_dump(mode="json")
        if data["secret"] is not None:
            data["secret"] = MASK
        data["headers"] = mask_headers(data["headers"])
        return data

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            if key == "secret" and value is not None:
                yield key, MASK
            elif key == "headers":
                yield key, mask_headers(value)
            else:
                yield key, value


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers with credential values (`SECRET_HEADERS`) shown as ``"******"``."""
    return {k: MASK if k.lower() in SECRET_HEADERS else v for k, v in headers.items()}


def restore_masked(data: Mapping[str, Any], current: WebhookConfig) -> dict[str, Any]:
    """Undo `WebhookConfig.public_dict`'s masks in an update: ``"******"`` means "keep the current value"
    (EMQX does the same), so a dashboard can send back what it was shown without knowing the secret.
    """
    out = dict(data)
    if out.get("secret") == MASK:
        out["secret"] = current.secret
    headers = out.get("headers")
    if isinstance(headers, Mapping):
        out["headers"] = {k: current.headers.get(k.lower(), v) if v == MASK and k.lower() in SECRET_HEADERS else v
                          for k, v in headers.items()}
    return out


class WebhooksSection(RootModel[dict[str, WebhookConfig]]):
    """The ``[[webhooks]]`` array of the config file, kept by name (names are unique).

    Keying by name puts the webhook's name in every error location (``webhooks[my_hook].url``) rather than
    an index. A table of tables keyed by name (``[webhooks.my_hook]``) is accepted too.
    """

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _by_name(cls, data: Any) -> Any:
        if isinstance(data, Mapping):  # [webhooks.<name>] tables, or the keyed form itself
            return {k: {"name": k, **v} if isinstance(v, Mapping) else v for k, v in data.items()}
        if not isinstance(data, list | tuple):
            raise ValueError(f"must be an array of tables ([[webhooks]] entries), got {type(data).__name__}")
        keyed: dict[str, Any] = {}
        for n, item in enumerate(data):
            name = item.get("name") if isinstance(item, Mapping) else getattr(item, "name", None)
            key = name if isinstance(name, str) and name else f"#{n}"
            if key in keyed:
                raise ValueError(f"two webhooks are named {key!r}; names must be unique")
            keyed[key] = item
        return keyed

    @model_validator(mode="after")
    def _names_match_keys(self) -> WebhooksSection:
        if bad := [(k, c.name) for k, c in self.root.items() if c.name != k]:
            raise ValueError(f"webhook {bad[0][0]!r} has name {bad[0][1]!r}; they must be the same")
        return self

    @property
    def webhooks(self) -> list[WebhookConfig]:
        """In file order; ``section.root[name]`` finds one by name."""
        return list(self.root.values())


# ------------------------------------------------------------------------------------------------ errors

_KINDS: Final = {"int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
                 "list": "a list", "dict": "a table", "model": "a table"}
_BOUNDS: Final = {"greater_than_equal": ("at least", "ge"), "less_than_equal": ("at most", "le"),
                  "greater_than": ("greater than", "gt"), "less_than": ("less than", "lt")}


def describe_errors(exc: ValidationError, name: str | None = None) -> list[str]:
    """One line per error: where (``webhooks[my_hook].url``), what is allowed, and the bad value unless secret.

    Errors of a `WebhooksSection` (or of settings holding one as ``webhooks``) carry the webhook's name in
    their location; for a lone `WebhookConfig` (an API request) pass ``name``, or get bare field paths.
    """
    lines = []
    for err in exc.errors(include_url=False):
        parts = list(err["loc"])
        where = f"webhooks[{name}]" if name and exc.title == WebhookConfig.__name__ else ""
        section = exc.title == WebhooksSection.__name__
        if not section and parts[:1] == ["webhooks"]:  # settings holding a WebhooksSection
            parts.pop(0)
            section = True
        if section:
            where = "webhooks" + (f"[{parts.pop(0)}]" if parts else "")
        for part in parts:
            where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
        lines.append(f"{where or 'webhook'}: {_what(err)}")
    return lines


def _what(err: Any) -> str:
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx", {})
    loc: tuple[int | str, ...] = err["loc"]
    secret = "secret" in loc or (len(loc) >= 2 and loc[-2] == "headers" and str(loc[-1]) in SECRET_HEADERS)
    shown = repr(err.get("input"))
    got = "" if secret or "input" not in err else f", got {shown if len(shown) <= 80 else shown[:77] + '...'}"
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        model = RetryPolicy if loc[-2:-1] == ("retry",) else WebhookConfig
        return f"unknown setting {loc[-1]!r}; allowed: {', '.join(model.model_fields)}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx["error"])
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}{got}"
    if kind in _BOUNDS:
        return f"must be {_BOUNDS[kind][0]} {ctx[_BOUNDS[kind][1]]}{got}"
    if kind.split("_")[0] in _KINDS:
        return f"must be {_KINDS[kind.split('_')[0]]}{got}"
    return f"{err['msg'][:1].lower()}{err['msg'][1:]}{got}"
