"""``hookmq webhook list|show|create|update|delete|enable|disable|test|deliveries|dead-letters|replay|metrics``:
the webhooks of a running node, through its REST API (connection options and exit statuses: `hookmq.cli_api`).

``create``, ``update`` and ``test`` take the settings as options (``--url``, ``--event``, ``--header``, ...,
``--set KEY=VALUE`` for any other) or from a JSON/TOML file. ``update`` reads the current settings, applies the
options and sends the whole back: masked values (``"******"``) stay masked, and the node keeps what they hide.
"""

from __future__ import annotations

import copy
import functools
import http
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import orjson

from hookmq.cli_api import api_command, fail, ms, pairs, print_json, table, when
from hookmq.client import Client, quote

__all__ = ["webhook"]

# What GET /webhooks/{name} adds to the settings; an update sends the settings back without these.
OUTPUT_ONLY = frozenset({"source", "read_only", "status", "status_reason", "metrics", "queue"})
DEFAULT_HEADERS = {"content-type": "application/json"}
# hookmq.webhooks.log.OUTCOMES (a test keeps them equal); importing it would load the whole webhook package and
# pydantic at every start of the command.
OUTCOMES = ("success", "retry", "failed", "gone", "test")


# ---------------------------------------------------------------------------------------------- webhook settings


@dataclass(frozen=True, slots=True)
class _Settings:
    """The setting options of create, update and test."""

    file: Path | None = None
    url: str | None = None
    events: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    method: str | None = None
    headers: tuple[str, ...] = ()
    body: str | None = None
    secret: str | None = None
    generate_secret: bool = False
    sets: tuple[str, ...] = ()

    def given(self) -> bool:
        return any((self.file, self.url, self.events, self.topics, self.method, self.headers, self.body is not None,
                    self.secret is not None, self.generate_secret, self.sets))


def _settings_options(fn: Callable[..., None], *, trigger: bool = True) -> Callable[..., None]:
    """Add the setting options; the command receives them as ``settings: _Settings``. ``trigger=False`` leaves
    out --event and --topic (a test sends one sample whatever the trigger)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, file: Path | None, hook_url: str | None, method: str | None, headers: tuple[str, ...],
                body: str | None, secret: str | None, generate_secret: bool, sets: tuple[str, ...],
                events: tuple[str, ...] = (), topics: tuple[str, ...] = (), **kwargs: Any) -> None:
        if secret is not None and generate_secret:
            fail("give --secret or --generate-secret, not both", 2)
        fn(*args, settings=_Settings(file, hook_url, events, topics, method, headers, body, secret, generate_secret,
                                     sets), **kwargs)

    options = [
        click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                     help="Any other setting; VALUE is JSON when it parses as JSON, else text; nested keys with "
                          "dots: --set ordering=client --set retry.max_attempts=5 --set batch_size=100."),
        click.option("--generate-secret", is_flag=True, help="Sign requests with a new random secret (printed once)."),
        click.option("--secret", metavar="WHSEC",
                     help="Standard Webhooks signing secret whsec_... ('' = do not sign)."),
        click.option("--body", metavar="TEMPLATE|@FILE",
                     help="Body template with ${var}s, or @FILE ('' = the whole event as JSON)."),
        click.option("--header", "headers", multiple=True, metavar="NAME=VALUE",
                     help="Request header (repeatable); NAME= removes one. Values may use ${var}."),
        click.option("--method", type=click.Choice(["POST", "PUT", "GET", "DELETE"], case_sensitive=False),
                     metavar="POST|PUT|GET|DELETE"),
    ]
    if trigger:
        options += [
            click.option("--topic", "topics", multiple=True, metavar="FILTER",
                         help="Topic filter for message events (repeatable; replaces the list)."),
            click.option("--event", "events", multiple=True, metavar="EVENT",
                         help="Event to send, or 'all' (repeatable; replaces the list; see hookmq events)."),
        ]
    options += [
        click.option("--url", "hook_url", metavar="URL", help="The receiver's URL (${var} allowed in path and query)."),
        click.option("--file", type=click.Path(path_type=Path, dir_okay=False),
                     help="Settings from a JSON or TOML file (a webhook, or a [[webhooks]] list: NAME picks one); "
                          "the other options apply on top."),
    ]
    for option in options:
        wrapper = option(wrapper)
    return wrapper


def _parse_value(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def _split_header(item: str) -> tuple[str, str]:
    """``NAME=VALUE`` (or ``NAME: VALUE``, as curl takes it): split at whichever comes first."""
    cuts = [i for i in (item.find("="), item.find(":")) if i > 0]
    if not cuts:
        fail(f"--header {item!r}: expected NAME=VALUE", 2)
    cut = min(cuts)
    return item[:cut].strip(), item[cut + 1:].strip()


def _read_file(path: Path, name: str | None) -> dict[str, Any]:
    """The webhook settings of a JSON or TOML file: one webhook, or a list of them (``webhooks = [...]`` or a
    table of tables keyed by name) of which ``name`` picks one."""
    try:
        raw = path.read_bytes()
        data: Any = tomllib.loads(raw.decode()) if path.suffix.lower() == ".toml" else orjson.loads(raw)
    except OSError as exc:
        fail(f"--file {path}: {exc.strerror or exc}", 2)
    except (tomllib.TOMLDecodeError, orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"--file {path}: not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {exc}", 2)
    if isinstance(data, dict) and "webhooks" in data:
        data = data["webhooks"]
        if isinstance(data, dict):  # [webhooks.NAME] tables
            data = [{"name": key, **value} if isinstance(value, dict) else value for key, value in data.items()]
    if isinstance(data, list):
        found = [item for item in data if isinstance(item, dict) and (name is None or item.get("name") == name)]
        if len(found) != 1:
            names = ", ".join(str(item.get("name")) for item in data if isinstance(item, dict))
            fail(f"--file {path}: holds {len(data)} webhooks ({names}); give the NAME of one" if name is None
                  else f"--file {path}: no webhook named {name!r} (it has: {names})", 2)
        data = found[0]
    if not isinstance(data, dict):
        fail(f"--file {path}: expected the settings of a webhook (a JSON object or TOML table)", 2)
    return data


def _set_path(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        node = data.get(part)
        if not isinstance(node, dict):
            node = data[part] = {}
        data = node
    data[parts[-1]] = value


def _apply(base: Mapping[str, Any], settings: _Settings, name: str | None, *,
           creating: bool) -> tuple[dict[str, Any], str | None]:
    """``base`` with the options applied; also the secret made by --generate-secret."""
    data = copy.deepcopy(dict(base))
    if settings.file is not None:
        data.update(_read_file(settings.file, name))
    if name is not None:
        data["name"] = name
    if settings.url is not None:
        data["url"] = settings.url
    if settings.events:
        data["events"] = list(settings.events)
    if settings.topics:
        data["topics"] = list(settings.topics)
    if settings.method is not None:
        data["method"] = settings.method.upper()
    if settings.headers:
        current = data.get("headers")
        headers = dict(current) if isinstance(current, dict) else dict(DEFAULT_HEADERS) if creating else {}
        for item in settings.headers:
            key, value = _split_header(item)
            headers = {k: v for k, v in headers.items() if k.lower() != key.lower()}
            if value:
                headers[key] = value
        data["headers"] = headers
    if settings.body is not None:
        data["body"] = _body(settings.body)
    if settings.secret is not None:
        data["secret"] = settings.secret or None
    generated = None
    if settings.generate_secret:
        from hookmq.webhooks.model import generate_secret

        data["secret"] = generated = generate_secret()
    for item in settings.sets:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail(f"--set {item!r}: expected KEY=VALUE, e.g. --set retry.max_attempts=5", 2)
        _set_path(data, key.strip(), _parse_value(raw))
    return data, generated


def _body(value: str) -> str | None:
    if value == "":
        return None
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_text()
        except OSError as exc:
            fail(f"--body {value}: {exc.strerror or exc}", 2)
    return value


def _settings_of(info: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in info.items() if key not in OUTPUT_ONLY}


def _merged(api: Client, name: str, settings: _Settings) -> tuple[dict[str, Any], str | None]:
    """The saved settings of ``name`` (masked values stay masked: the node keeps them) with the options applied."""
    current = _settings_of(api.get(f"/webhooks/{quote(name)}"))
    return _apply(current, settings, name, creating=False)


def _secret_note(generated: str | None) -> None:
    if generated is not None:
        click.echo(f"signing secret (shown only now; give it to the receiver): {generated}")


# ---------------------------------------------------------------------------------------------- webhook


@click.group()
def webhook() -> None:
    """Create, test, watch and repair webhooks."""


@webhook.command("list")
@click.option("--json", "as_json", is_flag=True, help="Every webhook as the API returns it.")
@api_command()
def webhook_list(api: Client, as_json: bool) -> None:
    """List webhooks.

    Config-file webhooks (read-only) first, then those created at run time.
    """
    infos = api.get("/webhooks")
    if as_json:
        print_json(infos)
        return
    if not infos:
        click.echo("no webhooks; create one with: hookmq webhook create NAME --url URL")
        return
    table(["NAME", "SOURCE", "ENABLED", "STATUS", "SUCCESS", "FAILED", "QUEUING", "URL"],
           [[i["name"], i["source"], i["enable"], i["status"], i["metrics"]["success"], i["metrics"]["failed"],
             i["metrics"]["queuing"], i["url"]] for i in infos])


@webhook.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="As the API returns it.")
@api_command()
def webhook_show(api: Client, name: str, as_json: bool) -> None:
    """Settings, status, metrics and queue of one.

    Secrets and credential headers show as ******.
    """
    info = api.get(f"/webhooks/{quote(name)}")
    if as_json:
        print_json(info)
        return
    reason = f" ({info['status_reason']})" if info.get("status_reason") else ""
    rows: list[tuple[str, Any]] = [
        ("name", info["name"]),
        ("source", "config file (read-only)" if info.get("read_only") else "API"),
        ("enabled", info.get("enable")), ("status", f"{info.get('status')}{reason}")]
    for key, value in _settings_of(info).items():
        if key in ("name", "enable"):
            continue
        if isinstance(value, dict) and key == "headers":
            rows.append((key, "\n".join(f"{k}: {v}" for k, v in value.items()) or "-"))
        elif isinstance(value, dict):
            rows += [(f"{key}.{k}", _setting(k, v)) for k, v in value.items()]
        else:
            rows.append((key, _setting(key, value)))
    queue = info.get("queue")
    if isinstance(queue, dict):
        rows.append(("queue", f"{queue['queued']} queued, {queue['inflight']} in flight, {queue['dead']} dead, "
                              f"{queue['bytes']} bytes"))
    pairs(rows)
    click.echo()
    _print_metrics(info["metrics"])


_EMPTY = {"body": "(the whole event as JSON)", "topics": "(every topic)", "secret": "(none: requests are not signed)",
          "max_attempts": "0 (unlimited)"}
_SECONDS = frozenset({"connect_timeout", "request_timeout", "initial_backoff", "max_backoff", "max_age"})


def _setting(key: str, value: Any) -> Any:
    """A setting as `webhook show` prints it: with its unit, or what an empty value means."""
    if value in (None, [], 0) and key in _EMPTY:
        return _EMPTY[key]
    if key in _SECONDS and isinstance(value, int | float):
        return f"{value:g} s"
    if key == "batch_time" and isinstance(value, int | float):
        return f"{value:g} ms"
    if key == "queue_max_bytes" and isinstance(value, int):
        for unit, size in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2)):
            if value % size == 0:
                return f"{value // size} {unit}"
        return f"{value} bytes"
    return value


def _print_metrics(metrics: Mapping[str, Any]) -> None:
    latency = metrics.get("latency") or {}
    drops = metrics.get("dropped_by_reason") or {}
    pairs([
        ("matched", f"{metrics['matched']} (success {metrics['success']}, failed {metrics['failed']}, dropped "
                    f"{metrics['dropped']}, queuing {metrics['queuing']}, in flight {metrics['inflight']})"),
        ("retried", metrics["retried"]),
        ("dropped by reason", ", ".join(f"{k} {v}" for k, v in drops.items()) or "-"),
        ("latency", f"avg {ms(latency.get('avg_ms'))}, p50 {ms(latency.get('p50_ms'))}, "
                    f"p99 {ms(latency.get('p99_ms'))} ({latency.get('count', 0)} requests)"),
        ("rate", f"{metrics.get('rate', 0):.2f} events/s"),
        ("status", metrics["status"] + (f" ({metrics['status_reason']})" if metrics.get("status_reason") else "")),
    ])


@webhook.command("create")
@click.argument("name", required=False)
@_settings_options
@click.option("--json", "as_json", is_flag=True, help="Print the created webhook as the API returns it.")
@api_command(url_flag=False)
def webhook_create(api: Client, name: str | None, settings: _Settings, as_json: bool) -> None:
    """Create a webhook; the node saves and starts it.

    \b
    hookmq webhook create my_webhook --url http://127.0.0.1:5000/ --event all
    hookmq webhook create alerts --url https://example.com/hook --topic 'sensors/#' \\
        --header 'authorization=Bearer abc' --body '{"temp": ${payload.temp}}' --generate-secret
    hookmq webhook create --file webhook.toml
    """
    if settings.url is None and settings.file is None:
        fail("give --url URL (the receiver) or --file FILE", 2)
    data, generated = _apply({}, settings, name, creating=True)
    if "name" not in data:
        fail("give the webhook's NAME (or a name in --file)", 2)
    info = api.post("/webhooks", data)
    if as_json:
        print_json({**info, "secret": generated} if generated else info)
        return
    click.echo(f"webhook {info['name']} created ({info['status']}); try it: hookmq webhook test {info['name']}")
    _secret_note(generated)


@webhook.command("update")
@click.argument("name")
@_settings_options
@click.option("--json", "as_json", is_flag=True, help="Print the webhook as the API returns it.")
@api_command(url_flag=False)
def webhook_update(api: Client, name: str, settings: _Settings, as_json: bool) -> None:
    """Change some settings of a webhook.

    What the options do not name stays as it is; a list given (--event, --topic) replaces the old one.
    Events already queued are sent with the new settings.
    """
    if not settings.given():
        fail("nothing to change: give --url, --event, --set KEY=VALUE, ... (see --help)", 2)
    data, generated = _merged(api, name, settings)
    info = api.put(f"/webhooks/{quote(name)}", data)
    if as_json:
        print_json({**info, "secret": generated} if generated else info)
        return
    click.echo(f"webhook {name} updated ({info['status']})")
    _secret_note(generated)


@webhook.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@api_command()
def webhook_delete(api: Client, name: str, yes: bool) -> None:
    """Delete a webhook, its queue and dead letters."""
    if not yes:
        click.confirm(f"Delete webhook {name!r} with its queued events and dead letters?", abort=True, err=True)
    api.delete(f"/webhooks/{quote(name)}")
    click.echo(f"webhook {name} deleted")


@webhook.command("enable")
@click.argument("name")
@api_command()
def webhook_enable(api: Client, name: str) -> None:
    """Enable a webhook."""
    info = api.post(f"/webhooks/{quote(name)}/enable")
    click.echo(f"webhook {name} enabled ({info['status']})")


@webhook.command("disable")
@click.argument("name")
@api_command()
def webhook_disable(api: Client, name: str) -> None:
    """Disable a webhook.

    A config-file webhook stays disabled until the node restarts. Matching events are not queued meanwhile.
    """
    api.post(f"/webhooks/{quote(name)}/disable")
    click.echo(f"webhook {name} disabled")


@webhook.command("test")
@click.argument("name", required=False)
@click.option("--event", "event", default="message.publish", show_default=True,
              help="The catalogue event whose example is sent.")
@functools.partial(_settings_options, trigger=False)
@click.option("-v", "--verbose", is_flag=True, help="Also print the request that was sent.")
@click.option("--json", "as_json", is_flag=True, help="The result as the API returns it.")
@api_command(url_flag=False)
def webhook_test(api: Client, name: str | None, event: str, settings: _Settings, verbose: bool,
                 as_json: bool) -> None:
    """Send a sample request and show the answer.

    The request is real (signed, marked webhook-test: true); exit status 0 on a 2xx answer, else 1.

    \b
    hookmq webhook test my_webhook                     # the saved settings
    hookmq webhook test my_webhook --url http://...    # with unsaved changes
    hookmq webhook test --url http://127.0.0.1:5000/   # settings not saved at all
    """
    if name is not None:
        body = _merged(api, name, settings)[0] if settings.given() else None
        result = api.request("POST", f"/webhooks/{quote(name)}/test", body, query=[("event", event)])
    else:
        if settings.url is None and settings.file is None:
            fail("give the NAME of a webhook, or the settings to test: --url URL (or --file FILE)", 2)
        data = _apply({}, settings, None, creating=True)[0]
        data.setdefault("name", "cli_test")
        result = api.request("POST", "/webhooks/test", data, query=[("event", event)])
    if as_json:
        print_json(result)
    else:
        _print_test(result, verbose)
    sys.exit(0 if result["ok"] else 1)


_OUTCOME_TEXT = {"retry": "a delivery would be retried", "failed": "a delivery would fail into the dead letters",
                 "gone": "410 Gone: a delivery would disable the webhook"}


def _print_test(result: Mapping[str, Any], verbose: bool) -> None:
    request = result.get("request") or {}
    if verbose and request:
        click.echo(f"> {request.get('method')} {request.get('url')}")
        for key, value in request.get("headers", []):
            click.echo(f"> {key}: {value}")
        if request.get("body"):
            click.echo(">")
            click.echo(request["body"])
        click.echo()
    note = "" if result["ok"] else f"; {_OUTCOME_TEXT.get(result['outcome'], result['outcome'])}"
    if result.get("status") is None:
        click.echo(f"error after {ms(result['latency_ms'])}: {result.get('error')}{note}")
        return
    try:
        phrase = http.HTTPStatus(result["status"]).phrase
    except ValueError:
        phrase = ""
    click.echo(f"HTTP {result['status']} {phrase} in {ms(result['latency_ms'])}{note}".replace("  ", " "))
    for key, value in result.get("headers", []):
        click.echo(f"{key}: {value}")
    if result.get("body"):
        click.echo()
        click.echo(result["body"])


@webhook.command("deliveries")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--outcome", type=click.Choice(OUTCOMES), help="Only attempts with this outcome.")
@click.option("--json", "as_json", is_flag=True, help="As the API returns them.")
@api_command()
def webhook_deliveries(api: Client, name: str, limit: int, outcome: str | None, as_json: bool) -> None:
    """Recent delivery attempts, newest first.

    The node keeps the last 200 attempts of each webhook in memory (tests included).
    """
    attempts = api.get(f"/webhooks/{quote(name)}/deliveries", limit=limit, outcome=outcome)
    if as_json:
        print_json(attempts)
        return
    if not attempts:
        click.echo("no delivery attempts yet")
        return
    table(["TIME", "OUTCOME", "STATUS", "LATENCY", "ATTEMPT", "EVENT", "DELIVERY ID", "DETAIL"],
           [[when(a["at"]), a["outcome"], a["status"], ms(a["latency_ms"]), a["attempt"], a["event"],
             a["delivery_id"], _detail(a.get("error") or a.get("response"))] for a in attempts])


def _detail(text: Any, width: int = 60) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= width else line[:width - 1] + "…"


@webhook.command("dead-letters")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True, help="As the API returns them (with each event).")
@api_command()
def webhook_dead_letters(api: Client, name: str, limit: int, offset: int, as_json: bool) -> None:
    """Dead letters: deliveries given up on.

    Oldest first; `hookmq webhook replay` sends them again.
    """
    page = api.get(f"/webhooks/{quote(name)}/dead-letters", limit=limit, offset=offset)
    if as_json:
        print_json(page)
        return
    rows, meta = page["data"], page["meta"]
    if not rows:
        click.echo("no dead letters" if meta["total"] == 0 else f"no dead letters past {offset} ({meta['total']})")
        return
    table(["FAILED AT", "DELIVERY ID", "EVENT", "ATTEMPTS", "STATUS", "REASON"],
           [[when(r["failed_at"]), r["delivery_id"], r["event"], r["attempts"], r["status"],
             _detail(r.get("reason"))] for r in rows])
    shown = f"{offset + 1}-{offset + len(rows)} of {meta['total']}" if meta["total"] > len(rows) else meta["total"]
    click.echo(f"\n{shown} dead letters; replay: hookmq webhook replay {name} [--id DELIVERY_ID ...]")


@webhook.command("replay")
@click.argument("name")
@click.option("--id", "ids", multiple=True, metavar="DELIVERY_ID", help="Only this dead letter (repeatable).")
@api_command()
def webhook_replay(api: Client, name: str, ids: tuple[str, ...]) -> None:
    """Queue dead letters again.

    All of them, or those given with --id.
    """
    answer = api.post(f"/webhooks/{quote(name)}/dead-letters/replay", {"ids": list(ids)} if ids else {})
    count = answer["replayed"]
    click.echo(f"{count} dead letter{'' if count == 1 else 's'} queued again")


@webhook.command("metrics")
@click.argument("name")
@click.option("--reset", is_flag=True, help="Zero the counters first (gauges such as queuing stay).")
@click.option("--json", "as_json", is_flag=True, help="As the API returns them.")
@api_command()
def webhook_metrics(api: Client, name: str, reset: bool, as_json: bool) -> None:
    """Counters, latency and status of one."""
    path = f"/webhooks/{quote(name)}/metrics"
    metrics = api.post(f"{path}/reset") if reset else api.get(path)
    if as_json:
        print_json(metrics)
    else:
        _print_metrics(metrics)
