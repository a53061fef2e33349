"""The webhook settings model: EMQX defaults, hookmq's delivery settings, and errors that name the field."""

from __future__ import annotations

import base64
import tomllib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hookmq.events.catalogue import CATALOGUE
from hookmq.webhooks.model import (
    MASK,
    RetryPolicy,
    WebhookConfig,
    WebhooksSection,
    describe_errors,
    generate_secret,
    restore_masked,
    rule_id,
)

URL = "http://127.0.0.1:9000/hook"
TOML = """
[[webhooks]]
name = "orders"
description = "order events to the shop backend"
events = ["message.publish", "message.delivered"]
topics = ["shop/+/orders", "shop/#"]
url = "https://hooks.example.com/mqtt/${clientid}"
method = "put"
headers = { "Content-Type" = "application/json", Authorization = "Bearer s3cret", "X-Topic" = "${topic}" }
body = '{"clientid": "${clientid}", "msg": ${payload}}'
connect_timeout = "5s"
request_timeout = 30
ordering = "client"
queue_max_bytes = "256MB"
overflow = "drop_new"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
payload_encoding = "base64"

[webhooks.retry]
initial_backoff = "500ms"
max_backoff = "1m"
max_age = "1h30m"
max_attempts = 10
retry_statuses = [503, 429]

[[webhooks]]
name = "audit"
events = "all"
url = "http://audit.internal:8080/"
batch_size = 100
batch_time = "200ms"
"""


def hook(**fields: Any) -> WebhookConfig:
    return WebhookConfig.model_validate({"name": "h", "url": URL, **fields})


def errors_of(**fields: Any) -> list[str]:
    """The described errors of one webhook named "h" inside a section (as the config file reports them)."""
    with pytest.raises(ValidationError) as err:
        WebhooksSection.model_validate([{"name": "h", "url": URL, **fields}])
    return describe_errors(err.value)


def test_defaults_follow_emqx_and_the_delivery_promise() -> None:
    config = hook()
    assert (config.enable, config.description, config.events, config.topics) == (True, "", ["message.publish"], [])
    assert (config.method, config.headers, config.body) == ("POST", {"content-type": "application/json"}, None)
    assert (config.connect_timeout, config.request_timeout, config.pool_size) == (15.0, 15.0, 8)
    assert (config.max_inflight, config.ordering, config.payload_encoding) == (32, "none", "plain")
    assert (config.queue_max_bytes, config.overflow, config.secret) == (1024 ** 3, "drop_oldest", None)
    assert (config.batch_size, config.batch_time) == (1, 0)
    assert config.retry == RetryPolicy(initial_backoff=1, factor=2, max_backoff=300, max_age=86400, max_attempts=0,
                                       retry_statuses=[408, 425, 429, 500, 502, 503, 504])
    assert config.rule_id == rule_id("h") == "h_WH_D"


def test_a_toml_section_parses_into_named_webhooks() -> None:
    section = WebhooksSection.model_validate(tomllib.loads(TOML)["webhooks"])
    assert [w.name for w in section.webhooks] == ["orders", "audit"]
    orders, audit = section.root["orders"], section.root["audit"]
    assert orders.method == "PUT"
    assert orders.headers == {"content-type": "application/json", "authorization": "Bearer s3cret",
                              "x-topic": "${topic}"}
    assert (orders.connect_timeout, orders.request_timeout, orders.queue_max_bytes) == (5.0, 30.0, 256 * 1024 ** 2)
    assert orders.retry.initial_backoff == 0.5 and orders.retry.max_backoff == 60 and orders.retry.max_age == 5400
    assert orders.retry.retry_statuses == [429, 503]
    assert orders.signing_keys == [base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    assert audit.events == ["all"] and audit.batch_size == 100 and audit.batch_time == 200
    request = orders.request_template()
    assert request.render_url({"clientid": "c1"}) == "https://hooks.example.com/mqtt/c1"


def test_table_of_tables_form_takes_the_name_from_the_key() -> None:
    section = WebhooksSection.model_validate(tomllib.loads('[webhooks.a1]\nurl = "http://h/"\n')["webhooks"])
    assert section.root["a1"].name == "a1"
    with pytest.raises(ValidationError) as err:
        WebhooksSection.model_validate({"a1": {"name": "b2", "url": "http://h/"}})
    assert "they must be the same" in describe_errors(err.value)[0]


def test_configs_are_immutable() -> None:
    with pytest.raises(ValidationError):
        hook().url = "http://other/"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------- errors

BAD: list[tuple[str, Any, str]] = [
    ("name", "bad name", "letters, digits, '-' and '_'"),
    ("name", "-lead", "start with a letter or digit"),
    ("name", "x" * 250, "at most 249 characters"),
    ("description", 5, "must be a string"),
    ("enable", "maybe", "true or false"),
    ("events", [], "at least one event"),
    ("events", ["client.conected"], "unknown event 'client.conected'; allowed: \"all\" or message.publish"),
    ("events", ["all", "client.connected"], "list it alone"),
    ("events", ["client.connected", "client.connected"], "twice"),
    ("topics", ["a/#/b"], "not a valid MQTT topic filter"),
    ("topics", ["t/1", ""], "entry 1 is empty"),
    ("topics", ["t/#", "t/#"], "twice"),
    ("topics", ["$share/g/t"], "shared subscriptions"),
    ("method", "PATCH", "must be one of 'POST', 'PUT', 'GET' or 'DELETE', got 'PATCH'"),
    ("url", "ftp://x", "must be an http:// or https:// URL, got 'ftp://x'"),
    ("url", "http://${host}/", "only in the path and query"),
    ("headers", {"bad name": "v"}, "not an HTTP token"),
    ("headers", {"Webhook-Signature": "v"}, "set by hookmq"),
    ("headers", {"X-A": "1", "x-a": "2"}, "given twice"),
    ("headers", {"x-a": "${a"}, "the value of 'x-a': unterminated '${'"),
    ("headers", {"x-a": 5}, "must be a string"),
    ("body", "${oops", "unterminated '${'"),
    ("payload_encoding", "hex", "'plain' or 'base64'"),
    ("connect_timeout", "15000", "a duration from 1ms to 5m"),
    ("connect_timeout", 0, "a duration from 1ms to 5m"),
    ("request_timeout", "2h", "a duration from 1ms to 1h"),
    ("pool_size", 0, "at least 1"),
    ("max_inflight", "many", "an integer"),
    ("ordering", "strict", "'none', 'client' or 'topic'"),
    ("queue_max_bytes", "5KB", "a size from 1MiB to 1024GiB"),
    ("overflow", "drop", "'drop_oldest' or 'drop_new'"),
    ("secret", "abc", "must be 'whsec_' followed by the base64 of 24 to 64 random bytes"),
    ("batch_size", 1001, "at most 1000"),
    ("batch_time", "2m", "a duration from 0 to 60s: a number of milliseconds"),
]


@pytest.mark.parametrize(("field", "value", "words"), BAD, ids=[f"{f}={v!r}"[:40] for f, v, _ in BAD])
def test_every_error_names_its_field_and_what_is_allowed(field: str, value: Any, words: str) -> None:
    lines = errors_of(**{field: value})
    assert len(lines) == 1, lines
    where = f"webhooks[{'h' if field != 'name' else value}].{field}"
    assert lines[0].startswith((f"{where}: ", f"{where}.")), lines
    assert words in lines[0]


@pytest.mark.parametrize(("retry", "words"), [
    ({"initial_backoff": "0s"}, "retry.initial_backoff: must be a duration from 1ms to 1h"),
    ({"factor": 0.5}, "retry.factor: must be at least 1.0, got 0.5"),
    ({"initial_backoff": "10s", "max_backoff": "5s"}, "retry.max_backoff: must be at least initial_backoff (10 s)"),
    ({"max_age": "60d"}, "retry.max_age: must be a duration from 1s to 30d"),
    ({"max_attempts": -1}, "retry.max_attempts: must be at least 0"),
    ({"retry_statuses": [200]}, "retry.retry_statuses: must be HTTP statuses from 300 to 599"),
    ({"retry_statuses": [503, 503]}, "retry.retry_statuses: lists a status twice"),
    ({"retry_statuses": [503], "max_retries": 2}, "retry.max_retries: unknown setting 'max_retries'; allowed: "
                                                  "initial_backoff, factor"),
])
def test_retry_errors(retry: dict[str, Any], words: str) -> None:
    [line] = errors_of(retry=retry)
    assert line.startswith(f"webhooks[h].{words}"), line


def test_unknown_settings_list_the_allowed_ones() -> None:
    [line] = errors_of(max_retries=3)
    assert line.startswith("webhooks[h].max_retries: unknown setting 'max_retries'; allowed: name, description, ")
    assert "batch_time" in line


def test_missing_url_and_name() -> None:
    with pytest.raises(ValidationError) as err:
        WebhooksSection.model_validate([{"name": "a"}, {"url": URL}])
    assert describe_errors(err.value) == ["webhooks[a].url: required", "webhooks[#1].name: required"]


def test_cross_field_rules() -> None:
    assert errors_of(method="GET", body="x") == [
        "webhooks[h].body: GET requests carry no body; remove body or use POST or PUT"]
    assert errors_of(body="${clientid}", batch_size=10) == [
        "webhooks[h].batch_size: must be 1 when body is set (a batch is a JSON array of whole events)"]
    assert errors_of(method="delete", batch_size=10) == [
        "webhooks[h].batch_size: must be 1 with method DELETE (a batch needs a body)"]
    [line] = errors_of(events=["client.connected"], topics=["t/#"])
    assert line.startswith("webhooks[h].topics: only message events (message.publish, message.delivered")


def test_section_errors() -> None:
    for data, words in [({"url": URL}, "webhooks[url]: must be a table"), ("x", "webhooks: must be an array of tables"),
                        ([5], "webhooks[#0]: must be a table")]:
        with pytest.raises(ValidationError) as err:
            WebhooksSection.model_validate(data)
        assert words in describe_errors(err.value)[0], describe_errors(err.value)


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValidationError) as err:
        WebhooksSection.model_validate([{"name": "a", "url": URL}, {"name": "b", "url": URL},
                                        {"name": "a", "url": URL}])
    assert describe_errors(err.value) == ["webhooks: two webhooks are named 'a'; names must be unique"]


def test_a_lone_config_is_described_with_the_given_name_or_bare_fields() -> None:
    with pytest.raises(ValidationError) as err:
        WebhookConfig.model_validate({"name": "api1", "url": "ftp://x", "pool_size": 0})
    assert describe_errors(err.value, name="api1") == [
        "webhooks[api1].url: must be an http:// or https:// URL, got 'ftp://x'",
        "webhooks[api1].pool_size: must be at least 1, got 0"]
    assert describe_errors(err.value)[1] == "pool_size: must be at least 1, got 0"


def test_settings_holding_a_section_are_described_the_same_way() -> None:
    from pydantic import BaseModel

    class Settings(BaseModel):
        webhooks: WebhooksSection = WebhooksSection.model_validate([])

    with pytest.raises(ValidationError) as err:
        Settings.model_validate({"webhooks": [{"name": "s", "url": URL, "ordering": "x"}]})
    assert describe_errors(err.value) == ["webhooks[s].ordering: must be one of 'none', 'client' or 'topic', got 'x'"]


# ---------------------------------------------------------------------------------- names and triggers

@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[0-9a-zA-Z][-0-9a-zA-Z_]{0,40}", fullmatch=True))
def test_emqx_names_are_accepted(name: str) -> None:
    assert hook(name=name).rule_id == name + "_WH_D"


def test_name_length_keeps_the_rule_id_under_255() -> None:
    assert len(hook(name="n" * 249).rule_id) == 254


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.name)
def test_every_catalogue_event_is_a_valid_trigger(spec: Any) -> None:
    assert hook(events=[spec.name]).events == [spec.name]


def test_all_events_and_a_single_string() -> None:
    assert hook(events="all").events == ["all"]
    assert hook(events="all", topics=["t/#"]).topics == ["t/#"]
    assert hook(topics="sensors/+/temp").topics == ["sensors/+/temp"]


@pytest.mark.parametrize("method", ["post", "Put", "GET", "delete"])
def test_method_is_case_insensitive(method: str) -> None:
    assert hook(method=method).method == method.upper()


# -------------------------------------------------------------------------------------- units and secret

@pytest.mark.parametrize(("text", "seconds"), [
    (15, 15.0), (0.25, 0.25), ("15s", 15.0), ("500ms", 0.5), ("5m", 300.0), ("1h", 3600.0), ("1.5s", 1.5),
    ("1m30s", 90.0), (" 2M ", 120.0),
])
def test_durations(text: Any, seconds: float) -> None:
    assert hook(request_timeout=text).request_timeout == seconds


@pytest.mark.parametrize("bad", ["15", "s", "1 s", "-1s", "1w", True, None, [1], float("nan")])
def test_bad_durations(bad: Any) -> None:
    assert "request_timeout: must be a duration" in errors_of(request_timeout=bad)[0]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 60_000))
def test_batch_time_is_milliseconds_as_a_number_or_a_duration(ms: int) -> None:
    assert hook(batch_time=ms).batch_time == ms
    assert hook(batch_time=f"{ms}ms").batch_time == ms


@pytest.mark.parametrize(("text", "size"), [
    (2 * 1024 ** 2, 2 * 1024 ** 2), ("512MB", 512 * 1024 ** 2), ("512mib", 512 * 1024 ** 2), ("1GiB", 1024 ** 3),
    ("2 GB", 2 * 1024 ** 3), ("1TB", 1024 ** 4), ("1048576", 1024 ** 2),
])
def test_byte_sizes(text: Any, size: int) -> None:
    assert hook(queue_max_bytes=text).queue_max_bytes == size


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 100))
def test_secret_length_is_24_to_64_bytes(n: int) -> None:
    secret = "whsec_" + base64.b64encode(bytes(range(n))).decode()
    if 24 <= n <= 64:
        assert hook(secret=secret).signing_keys == [bytes(range(n))]
    else:
        [line] = errors_of(secret=secret)
        assert line == ("webhooks[h].secret: must be 'whsec_' followed by the base64 of 24 to 64 random bytes "
                        f"(several: space-separated); it decodes to {n} bytes")


@pytest.mark.parametrize(("secret", "why"), [
    ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "does not start with 'whsec_'"),
    ("whsec_not base64!!", "not valid base64"), ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "not valid base64"),
])
def test_bad_secrets_are_explained_but_never_echoed(secret: str, why: str) -> None:
    with pytest.raises(ValidationError) as err:
        WebhooksSection.model_validate([{"name": "h", "url": URL, "secret": secret}])
    [line] = describe_errors(err.value)
    assert why in line and secret not in line
    assert secret not in str(err.value)


def test_generated_secrets_are_valid_and_empty_means_none() -> None:
    assert [len(k) for k in hook(secret=generate_secret()).signing_keys] == [32]
    assert len(hook(secret=generate_secret(64)).signing_keys) == 1
    assert hook(secret="").secret is None and hook(secret="").signing_keys == []


# -------------------------------------------------------------------------------------------------- masking

def test_public_dict_masks_the_secret_and_credential_headers() -> None:
    secret = generate_secret()
    config = hook(secret=secret, headers={"Authorization": "Bearer t0ken", "Proxy-Authorization": "Basic eA==",
                                          "X-Plain": "visible"})
    public = config.public_dict()
    assert public["secret"] == MASK
    assert public["headers"] == {"authorization": MASK, "proxy-authorization": MASK, "x-plain": "visible"}
    assert public["url"] == URL and public["retry"]["max_age"] == 86400
    for text in (repr(config), str(config), str(public)):
        assert secret not in text and "t0ken" not in text and "eA==" not in text
    assert config.secret == secret  # the model itself keeps the real values
    assert hook().public_dict()["secret"] is None


def test_restore_masked_keeps_current_secrets_on_update() -> None:
    current = hook(secret=generate_secret(), headers={"authorization": "Bearer t0ken"})
    update = {**current.public_dict(), "description": "edited"}
    restored = WebhookConfig.model_validate(restore_masked(update, current))
    assert restored == current.model_copy(update={"description": "edited"})
    changed = restore_masked({**update, "secret": "", "headers": {"Authorization": "Bearer new"}}, current)
    assert WebhookConfig.model_validate(changed).headers == {"authorization": "Bearer new"}
    assert WebhookConfig.model_validate(changed).secret is None


def test_bad_authorization_values_are_not_echoed() -> None:
    [line] = errors_of(headers={"Authorization": 12345})
    assert line == "webhooks[h].headers.authorization: must be a string"


def test_several_secrets_while_rotating() -> None:
    new, old = generate_secret(), generate_secret(24)
    config = WebhookConfig(name="w", url=URL, secret=f"  {new}   {old} ")
    assert config.secret == f"{new} {old}"
    assert [len(key) for key in config.signing_keys] == [32, 24]
    with pytest.raises(ValidationError) as err:
        WebhookConfig(name="w", url=URL, secret=f"{new} whsec_bad")
    assert "secret 2 of 2" in str(err.value) and new not in str(err.value)
    with pytest.raises(ValidationError, match="twice"):
        WebhookConfig(name="w", url=URL, secret=f"{new} {new}")
