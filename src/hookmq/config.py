"""One typed settings model for the whole node: TOML file < environment (``HOOKMQ_*``) < command-line flags.

Environment variables address any key as ``HOOKMQ_<SECTION>__<KEY>`` (e.g. ``HOOKMQ_MQTT__MAX_QUEUE_LEN=5000``);
the flags of ``hookmq serve`` also have short forms (``HOOKMQ_MQTT_PORT``, ``HOOKMQ_DATA_DIR`` ...).
Every error names the setting and what is allowed, so a typo never turns into a silent default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from hookmq.webhooks.model import WebhooksSection, describe_errors

__all__ = ["ConfigError", "Settings", "load_settings", "password_problem"]

MIB = 1024 * 1024
DEFAULT_ADMIN_PASSWORD = "public"  # as EMQX; must be changed at first login
MIN_PASSWORD_LENGTH = 8


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MqttSettings(_Section):
    # Defaults follow EMQX where it has one, so behaviour matches what EMQX users expect.
    max_packet_size: int = Field(MIB, ge=64, le=268_435_460, description="largest packet accepted or sent (EMQX: 1 MB)")
    max_keepalive: int = Field(0, ge=0, le=65535, description="cap on the client keep alive, s (0 = no cap); MQTT 5 "
                                                             "clients are told through Server Keep Alive")
    receive_maximum: int = Field(32, ge=1, le=65535, description="QoS 1/2 PUBLISHes a client may have unacknowledged")
    max_inflight: int = Field(32, ge=1, le=65535, description="QoS 1/2 messages sent before waiting for acks")
    max_queue_len: int = Field(1000, ge=0, description="messages queued per session beyond in-flight (0 = unlimited)")
    queue_qos0: bool = Field(True, description="queue QoS 0 messages for offline persistent sessions (as EMQX)")
    max_topic_levels: int = Field(128, ge=1, le=65535, description="levels in a topic name or filter (EMQX: 128)")
    max_topic_alias: int = Field(65535, ge=0, le=65535, description="Topic Alias Maximum offered to MQTT 5 clients")
    max_clientid_len: int = Field(65535, ge=23, le=65535)
    max_connections: int = Field(1_000_000, ge=1)
    connect_timeout: float = Field(15.0, gt=0, description="seconds a socket may stay open without sending CONNECT")
    session_expiry_v3: int = Field(7200, ge=0, description="expiry (s) of MQTT 3.x clean_session=false sessions")
    max_session_expiry: int = Field(0xFFFFFFFF, ge=0, le=0xFFFFFFFF, description="cap on Session Expiry Interval, s")
    retain_available: bool = True
    shared_subscription: bool = True
    wildcard_subscription: bool = True
    sys_interval: float = Field(10.0, ge=0, description="seconds between $SYS statistics (0 = off)")


class ListenerSettings(_Section):
    host: str = "0.0.0.0"
    mqtt_port: int = Field(1883, ge=0, le=65535)
    ws_port: int | None = Field(8083, ge=0, le=65535, description="MQTT over WebSocket (null = off)")
    ws_path: str = "/mqtt"
    tls_port: int = Field(8883, ge=0, le=65535, description="MQTT over TLS, opened when certfile is set")
    wss_port: int = Field(8084, ge=0, le=65535, description="MQTT over secure WebSocket, opened when certfile is set")
    certfile: Path | None = None
    keyfile: Path | None = None
    cafile: Path | None = Field(None, description="CA bundle to verify client certificates (enables mutual TLS)")
    http_host: str = "127.0.0.1"
    http_port: int = Field(18083, ge=0, le=65535, description="HTTP API, dashboard and metrics")


class AuthenticationSettings(_Section):
    allow_anonymous: bool = True
    password_file: Path | None = None


class AuthorizationSettings(_Section):
    acl_file: Path | None = None
    no_match: Literal["allow", "deny"] = "allow"
    deny_action: Literal["ignore", "disconnect"] = "ignore"
    cache_max_size: int = Field(32, ge=0)


class StorageSettings(_Section):
    commit_interval_ms: int = Field(20, ge=1, le=10_000, description="group-commit window: what kill -9 may lose")


class ApiSettings(_Section):
    """The REST API on the HTTP listener: the dashboard admin's login, tokens and the login rate limit."""

    # Sets the dashboard admin's password at every start (unattended installs): no forced change at first
    # login, and `PUT /api/v1/password` refuses to change it behind the config's back. Unset = "public",
    # which must be changed at first login (as EMQX).
    admin_password: SecretStr | None = Field(None, description="dashboard admin password (HOOKMQ_ADMIN_PASSWORD)")
    token_ttl: float = Field(3600.0, gt=0, le=30 * 86400, description="seconds a login token stays valid")
    login_max_failures: int = Field(5, ge=1, description="failed logins per client address within login_window "
                                                         "before further attempts get 429")
    login_window: float = Field(60.0, gt=0, le=86400, description="seconds over which login failures are counted")

    @field_validator("admin_password")
    @classmethod
    def _strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = password_problem(value.get_secret_value())
            if problem:
                raise ValueError(problem)
        return value


def password_problem(password: str) -> str | None:
    """Why a new dashboard password is refused, or None when it is acceptable."""
    if password == DEFAULT_ADMIN_PASSWORD:
        return f"must not be the default password {DEFAULT_ADMIN_PASSWORD!r}"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    return None


class Settings(_Section):
    node_name: str = Field("hookmq@127.0.0.1", pattern=r"^[^@\s]+@[^@\s]+$")
    data_dir: Path = Path("data")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    mqtt: MqttSettings = MqttSettings()
    listeners: ListenerSettings = ListenerSettings()
    authentication: AuthenticationSettings = AuthenticationSettings()
    authorization: AuthorizationSettings = AuthorizationSettings()
    storage: StorageSettings = StorageSettings()
    api: ApiSettings = ApiSettings()
    webhooks: WebhooksSection = Field(WebhooksSection({}), description="[[webhooks]] tables: read-only at run time")


class ConfigError(Exception):
    """A bad setting; the message names the setting, the bad value and what is allowed."""


# Short environment names for the settings `hookmq serve` also takes as flags.
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "HOOKMQ_NODE_NAME": ("node_name",),
    "HOOKMQ_DATA_DIR": ("data_dir",),
    "HOOKMQ_LOG_LEVEL": ("log_level",),
    "HOOKMQ_MQTT_PORT": ("listeners", "mqtt_port"),
    "HOOKMQ_WS_PORT": ("listeners", "ws_port"),
    "HOOKMQ_HTTP_PORT": ("listeners", "http_port"),
    "HOOKMQ_ADMIN_PASSWORD": ("api", "admin_password"),
}


# Read by the client commands (``hookmq events tail`` ...), not by the node's settings.
CLIENT_ENV = frozenset({"HOOKMQ_URL", "HOOKMQ_API_KEY", "HOOKMQ_TOKEN"})


def _set_path(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(path)}: {key} is not a section")
        tree = node
    tree[path[-1]] = value


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """Settings from ``HOOKMQ_*`` variables, and which variable set each path (for error messages).

    Short aliases apply first and ``HOOKMQ_<SECTION>__<KEY>`` forms after them, so when both name the same
    setting the explicit form wins whatever the order of the environment. Unknown names are errors: a typo
    must not silently leave a default in place.
    """
    tree: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    names = sorted((n for n in environ if n.startswith("HOOKMQ_") and n not in CLIENT_ENV),
                   key=lambda n: (n not in ENV_ALIASES, n))
    for name in names:
        if name in ENV_ALIASES:
            path = ENV_ALIASES[name]
        elif "__" in name:
            path = tuple(part.lower() for part in name[len("HOOKMQ_"):].split("__"))
        else:
            raise ConfigError(f"environment: unknown variable {name} (use HOOKMQ_<SECTION>__<KEY>, e.g. "
                              f"HOOKMQ_MQTT__MAX_QUEUE_LEN, or one of {', '.join(sorted(ENV_ALIASES))})")
        _set_path(tree, path, environ[name])
        origin[path] = name
    return tree, origin


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    if first["loc"][:1] == ("webhooks",):  # name the webhook, never print a secret
        return f"{source}: {describe_errors(err)[0]}"
    where = ".".join(str(p) for p in first["loc"])
    value = "******" if "admin_password" in first["loc"] else first.get("input")
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown setting {where!r} (check the spelling; see README 'Configuration')"
    return f"{source}: {where} = {value!r}: {first['msg']}"


def _source_of(loc: tuple[Any, ...], file_source: str, env_origin: dict[tuple[str, ...], str],
               overrides: Mapping[str, Any] | None) -> str:
    """Name where the offending value came from: a flag, an environment variable or the file."""
    path = tuple(str(p) for p in loc)
    node: Any = overrides or {}
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            break
        node = node[key]
    else:
        return "command line"
    for length in range(len(path), 0, -1):
        if path[:length] in env_origin:
            return f"environment {env_origin[path[:length]]}"
    return file_source


def load_settings(config_file: Path | None = None, environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build the settings from a TOML file, the environment and explicit overrides (CLI flags), in that order.

    Raises:
        ConfigError: the file is missing or not TOML, or a value is invalid; the message names the setting
            and where the bad value came from.
    """
    data: dict[str, Any] = {}
    file_source = "config"
    if config_file is not None:
        file_source = str(config_file)
        try:
            data = tomllib.loads(Path(config_file).read_text())
        except FileNotFoundError:
            raise ConfigError(f"--config {config_file}: file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: not valid TOML: {exc}") from None
    env_tree, env_origin = _env_overrides(os.environ if environ is None else environ)
    data = _merge(data, env_tree)
    if overrides:
        data = _merge(data, overrides)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        raise ConfigError(_describe(exc, _source_of(loc, file_source, env_origin, overrides))) from None
