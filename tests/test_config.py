"""Unit tests of `hookmq.config.load_settings`: TOML file < environment < overrides (flags), and error messages
that name the setting at fault (README "Configuration")."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookmq.config import ConfigError, Settings, load_settings


def write_toml(tmp_path: Path, text: str, name: str = "hookmq.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_match_the_readme() -> None:
    s = load_settings(None, environ={})
    assert s == Settings()
    assert s.node_name == "hookmq@127.0.0.1"
    assert s.data_dir == Path("data")
    assert s.log_level == "info"
    assert (s.listeners.host, s.listeners.mqtt_port, s.listeners.ws_port, s.listeners.ws_path) == (
        "0.0.0.0", 1883, 8083, "/mqtt")
    assert (s.listeners.tls_port, s.listeners.wss_port, s.listeners.certfile) == (8883, 8084, None)
    assert (s.listeners.http_host, s.listeners.http_port) == ("127.0.0.1", 18083)
    m = s.mqtt
    assert m.max_packet_size == 1048576
    assert (m.max_keepalive, m.receive_maximum, m.max_inflight, m.max_queue_len) == (0, 32, 32, 1000)
    assert (m.queue_qos0, m.max_topic_levels, m.max_topic_alias, m.max_clientid_len) == (True, 128, 65535, 65535)
    assert (m.max_connections, m.connect_timeout, m.session_expiry_v3) == (1000000, 15.0, 7200)
    assert (m.max_session_expiry, m.retain_available, m.shared_subscription) == (4294967295, True, True)
    assert (m.wildcard_subscription, m.sys_interval) == (True, 10.0)
    assert s.authentication.allow_anonymous is True and s.authentication.password_file is None
    assert (s.authorization.acl_file, s.authorization.no_match, s.authorization.deny_action) == (
        None, "allow", "ignore")
    assert s.storage.commit_interval_ms == 20


def test_readme_example_file_loads(tmp_path: Path) -> None:
    path = write_toml(tmp_path, """
node_name = "hookmq@10.0.0.1"
data_dir = "state"
log_level = "debug"

[listeners]
host = "127.0.0.1"
mqtt_port = 1884
ws_path = "/ws"

[mqtt]
max_packet_size = 2048
queue_qos0 = false
sys_interval = 0.5

[authentication]
allow_anonymous = false
password_file = "passwd"

[authorization]
no_match = "deny"
deny_action = "disconnect"

[storage]
commit_interval_ms = 5
""")
    s = load_settings(path, environ={})
    assert s.node_name == "hookmq@10.0.0.1"
    assert s.data_dir == Path("state")
    assert s.log_level == "debug"
    assert (s.listeners.host, s.listeners.mqtt_port, s.listeners.ws_path) == ("127.0.0.1", 1884, "/ws")
    assert s.listeners.ws_port == 8083  # untouched keys keep their defaults
    assert (s.mqtt.max_packet_size, s.mqtt.queue_qos0, s.mqtt.sys_interval) == (2048, False, 0.5)
    assert s.mqtt.max_inflight == 32
    assert s.authentication.allow_anonymous is False
    assert s.authentication.password_file == Path("passwd")
    assert (s.authorization.no_match, s.authorization.deny_action) == ("deny", "disconnect")
    assert s.storage.commit_interval_ms == 5


def test_precedence_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = write_toml(tmp_path, """
node_name = "file@host"
[mqtt]
max_queue_len = 10
max_inflight = 11
receive_maximum = 12
""")
    env = {"HOOKMQ_NODE_NAME": "env@host", "HOOKMQ_MQTT__MAX_QUEUE_LEN": "20", "HOOKMQ_MQTT__MAX_INFLIGHT": "21"}
    overrides = {"node_name": "flag@host", "mqtt": {"max_inflight": 31}}

    only_file = load_settings(path, environ={})
    assert (only_file.node_name, only_file.mqtt.max_queue_len, only_file.mqtt.max_inflight) == ("file@host", 10, 11)

    with_env = load_settings(path, environ=env)
    assert (with_env.node_name, with_env.mqtt.max_queue_len, with_env.mqtt.max_inflight) == ("env@host", 20, 21)
    assert with_env.mqtt.receive_maximum == 12  # sections are merged key by key, not replaced

    with_flags = load_settings(path, environ=env, overrides=overrides)
    assert with_flags.node_name == "flag@host"
    assert with_flags.mqtt.max_inflight == 31
    assert with_flags.mqtt.max_queue_len == 20
    assert with_flags.mqtt.receive_maximum == 12


def test_overrides_beat_file_without_env(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[listeners]\nmqtt_port = 1000\nws_port = 1001\n")
    s = load_settings(path, environ={}, overrides={"listeners": {"mqtt_port": 0}})
    assert (s.listeners.mqtt_port, s.listeners.ws_port) == (0, 1001)


@pytest.mark.parametrize(("name", "value", "path", "expected"), [
    ("HOOKMQ_MQTT__MAX_QUEUE_LEN", "5000", ("mqtt", "max_queue_len"), 5000),
    ("HOOKMQ_MQTT__QUEUE_QOS0", "false", ("mqtt", "queue_qos0"), False),
    ("HOOKMQ_MQTT__SYS_INTERVAL", "0.25", ("mqtt", "sys_interval"), 0.25),
    ("HOOKMQ_LISTENERS__HOST", "127.0.0.1", ("listeners", "host"), "127.0.0.1"),
    ("HOOKMQ_LISTENERS__WS_PATH", "/ws", ("listeners", "ws_path"), "/ws"),
    ("HOOKMQ_AUTHENTICATION__ALLOW_ANONYMOUS", "0", ("authentication", "allow_anonymous"), False),
    ("HOOKMQ_AUTHENTICATION__PASSWORD_FILE", "/etc/passwd.hookmq", ("authentication", "password_file"),
     Path("/etc/passwd.hookmq")),
    ("HOOKMQ_AUTHORIZATION__NO_MATCH", "deny", ("authorization", "no_match"), "deny"),
    ("HOOKMQ_STORAGE__COMMIT_INTERVAL_MS", "50", ("storage", "commit_interval_ms"), 50),
])
def test_any_key_from_the_environment(name: str, value: str, path: tuple[str, str], expected: object) -> None:
    s = load_settings(None, environ={name: value})
    assert getattr(getattr(s, path[0]), path[1]) == expected


@pytest.mark.parametrize(("name", "value", "path", "expected"), [
    ("HOOKMQ_MQTT_PORT", "1999", ("listeners", "mqtt_port"), 1999),
    ("HOOKMQ_WS_PORT", "2999", ("listeners", "ws_port"), 2999),
    ("HOOKMQ_HTTP_PORT", "3999", ("listeners", "http_port"), 3999),
    ("HOOKMQ_DATA_DIR", "/var/lib/hookmq", ("data_dir",), Path("/var/lib/hookmq")),
    ("HOOKMQ_NODE_NAME", "n1@10.1.1.1", ("node_name",), "n1@10.1.1.1"),
    ("HOOKMQ_LOG_LEVEL", "warning", ("log_level",), "warning"),
])
def test_short_environment_aliases(name: str, value: str, path: tuple[str, ...], expected: object) -> None:
    s: object = load_settings(None, environ={name: value})
    for part in path:
        s = getattr(s, part)
    assert s == expected


def test_short_alias_overrides_the_file_and_flags_override_the_alias(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[listeners]\nmqtt_port = 1000\n")
    assert load_settings(path, environ={"HOOKMQ_MQTT_PORT": "2000"}).listeners.mqtt_port == 2000
    s = load_settings(path, environ={"HOOKMQ_MQTT_PORT": "2000"}, overrides={"listeners": {"mqtt_port": 3000}})
    assert s.listeners.mqtt_port == 3000


def test_unrelated_environment_is_ignored() -> None:
    s = load_settings(None, environ={"PATH": "/bin", "HOME": "/root", "MQTT__MAX_QUEUE_LEN": "abc",
                                     "XHOOKMQ_MQTT__MAX_QUEUE_LEN": "abc"})
    assert s == Settings()


def test_environ_none_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKMQ_MQTT__MAX_INFLIGHT", "7")
    monkeypatch.setenv("HOOKMQ_NODE_NAME", "os@env")
    s = load_settings(None)
    assert (s.mqtt.max_inflight, s.node_name) == (7, "os@env")


def test_overrides_may_be_nested_and_partial() -> None:
    s = load_settings(None, environ={"HOOKMQ_LISTENERS__WS_PORT": "9001"},
                      overrides={"listeners": {"mqtt_port": 0, "http_port": 0}})
    assert (s.listeners.mqtt_port, s.listeners.ws_port, s.listeners.http_port) == (0, 9001, 0)


# ------------------------------------------------------------------ errors name the setting


def error_of(*args: object, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(*args, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    message = error_of(missing, environ={})
    assert str(missing) in message
    assert "not found" in message


def test_invalid_toml(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[mqtt\nmax_queue_len = 1\n")
    message = error_of(path, environ={})
    assert str(path) in message
    assert "TOML" in message


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[mqtt]\nmax_queue_lenght = 5\n")
    message = error_of(path, environ={})
    assert "mqtt.max_queue_lenght" in message
    assert "unknown setting" in message
    assert str(path) in message


def test_unknown_section_in_file_is_named(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[webhookz]\nurl = 'http://x'\n")
    assert "webhookz" in error_of(path, environ={})


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'nodename = "a@b"\n')
    assert "nodename" in error_of(path, environ={})


@pytest.mark.parametrize(("toml", "field"), [
    ('[mqtt]\nmax_packet_size = "big"\n', "mqtt.max_packet_size"),
    ("[mqtt]\nmax_packet_size = 10\n", "mqtt.max_packet_size"),  # below the minimum of 64
    ("[mqtt]\nqueue_qos0 = 3\n", "mqtt.queue_qos0"),
    ("[listeners]\nmqtt_port = 70000\n", "listeners.mqtt_port"),
    ("[listeners]\nhttp_port = -1\n", "listeners.http_port"),
    ('log_level = "verbose"\n', "log_level"),
    ('node_name = "no-at-sign"\n', "node_name"),
    ('[authorization]\nno_match = "maybe"\n', "authorization.no_match"),
    ("[storage]\ncommit_interval_ms = 0\n", "storage.commit_interval_ms"),
    ("mqtt = 5\n", "mqtt"),
])
def test_bad_value_in_file_names_the_field(tmp_path: Path, toml: str, field: str) -> None:
    message = error_of(write_toml(tmp_path, toml), environ={})
    assert field in message


@pytest.mark.parametrize(("name", "value", "field"), [
    ("HOOKMQ_MQTT__MAX_PACKET_SIZE", "abc", "mqtt.max_packet_size"),
    ("HOOKMQ_MQTT__QUEUE_QOS0", "perhaps", "mqtt.queue_qos0"),
    ("HOOKMQ_MQTT_PORT", "eighteen", "listeners.mqtt_port"),
    ("HOOKMQ_HTTP_PORT", "99999", "listeners.http_port"),
    ("HOOKMQ_LOG_LEVEL", "loud", "log_level"),
    ("HOOKMQ_MQTT__MAX_QUEU_LEN", "5", "mqtt.max_queu_len"),  # a typo is an error, not a silent default
    ("HOOKMQ_NOSUCHSECTION__KEY", "1", "nosuchsection"),
])
def test_bad_value_in_environment_names_the_field(name: str, value: str, field: str) -> None:
    assert field in error_of(None, environ={name: value})


def test_bad_override_names_the_field() -> None:
    assert "listeners.ws_port" in error_of(None, environ={}, overrides={"listeners": {"ws_port": "x"}})


def test_error_message_names_the_bad_value() -> None:
    message = error_of(None, environ={"HOOKMQ_MQTT__MAX_PACKET_SIZE": "abc"})
    assert "'abc'" in message


def test_error_message_is_one_line(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[mqtt]\nmax_packet_size = "big"\n')
    assert "\n" not in error_of(path, environ={}).strip()


def test_error_from_environment_does_not_blame_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[mqtt]\nmax_inflight = 10\n")
    message = error_of(path, environ={"HOOKMQ_MQTT__MAX_PACKET_SIZE": "abc"})
    assert "mqtt.max_packet_size" in message
    assert "HOOKMQ_MQTT__MAX_PACKET_SIZE" in message and not message.startswith(str(path))


def test_unknown_environment_variable_is_an_error() -> None:
    """A typo (single underscore) must not silently leave the default in place."""
    with pytest.raises(ConfigError, match="HOOKMQ_MQTT_MAX_QUEUE_LEN"):
        load_settings(None, environ={"HOOKMQ_MQTT_MAX_QUEUE_LEN": "5"})


def test_explicit_form_beats_short_alias_whatever_the_order() -> None:
    for environ in ({"HOOKMQ_MQTT_PORT": "1", "HOOKMQ_LISTENERS__MQTT_PORT": "2"},
                    {"HOOKMQ_LISTENERS__MQTT_PORT": "2", "HOOKMQ_MQTT_PORT": "1"}):
        assert load_settings(None, environ=environ).listeners.mqtt_port == 2


def test_settings_are_validated_on_assignment() -> None:
    s = load_settings(None, environ={})
    with pytest.raises(ValueError, match="max_packet_size"):
        s.mqtt.max_packet_size = "abc"  # type: ignore[assignment]


def test_webhooks_are_read_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hookmq.toml"
    path.write_text('[[webhooks]]\nname = "my_webhook"\nurl = "http://127.0.0.1:5000/"\nevents = ["all"]\n'
                    '[[webhooks]]\nname = "orders"\nurl = "https://shop.example/hook"\ntopics = ["shop/#"]\n')
    hooks = load_settings(path, environ={}).webhooks.webhooks
    assert [(h.name, h.events, h.topics) for h in hooks] == [
        ("my_webhook", ["all"], []), ("orders", ["message.publish"], ["shop/#"])]


def test_bad_webhook_names_the_webhook_and_field_and_hides_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "hookmq.toml"
    path.write_text('[[webhooks]]\nname = "my_hook"\nurl = "http://x/"\nsecret = "whsec_c2hvcnQ="\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    message = str(err.value)
    assert message.startswith(f"{path}: webhooks[my_hook].secret: must be 'whsec_'")
    assert "c2hvcnQ" not in message
