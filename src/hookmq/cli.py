"""Command line: ``hookmq serve`` runs a node, ``hookmq user`` manages the MQTT password file.

Exit status 2 means bad usage or configuration; the one-line message names the setting to fix.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from hookmq import __version__
from hookmq.config import ConfigError, Settings, load_settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _fail(message: str) -> NoReturn:
    click.echo(f"hookmq: {message}", err=True)
    sys.exit(2)


def _settings(config: Path | None, overrides: dict[str, Any]) -> Settings:
    try:
        return load_settings(config, overrides=overrides)
    except ConfigError as exc:
        _fail(str(exc))


@click.group()
@click.version_option(__version__, prog_name="hookmq")
def main() -> None:
    """hookmq: MQTT broker with durable webhooks."""


@main.command()
@click.option("--config", "config", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where state lives (default ./data).")
@click.option("--mqtt-port", type=int, help="MQTT/TCP port (default 1883; 0 = any free port).")
@click.option("--ws-port", type=int, help="MQTT over WebSocket port (default 8083; 0 = any free port).")
@click.option("--http-port", type=int, help="HTTP API/dashboard port (default 18083; 0 = any free port).")
@click.option("--host", help="Address the MQTT listeners bind (default 0.0.0.0).")
@click.option("--node-name", help="Node name, name@host (default hookmq@127.0.0.1).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]))
def serve(config: Path | None, data_dir: Path | None, mqtt_port: int | None, ws_port: int | None,
          http_port: int | None, host: str | None, node_name: str | None, log_level: str | None) -> None:
    """Run the broker until SIGTERM or Ctrl-C."""
    overrides: dict[str, Any] = {}
    listeners = {k: v for k, v in (("mqtt_port", mqtt_port), ("ws_port", ws_port), ("http_port", http_port),
                                   ("host", host)) if v is not None}
    if listeners:
        overrides["listeners"] = listeners
    for key, value in (("data_dir", data_dir), ("node_name", node_name), ("log_level", log_level)):
        if value is not None:
            overrides[key] = value
    settings = _settings(config, overrides)
    _raise_open_file_limit()
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    from hookmq.server import StartupError
    from hookmq.server import serve as run

    try:
        import uvloop
    except ImportError:  # uvloop is optional on platforms without it
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(run(settings))
    except (StartupError, ConfigError) as exc:
        _fail(str(exc))


def _raise_open_file_limit() -> None:
    """Every MQTT connection is a file descriptor; the usual soft limit (1024) is far below what a broker needs."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass  # keep the soft limit we were given


@main.group()
def user() -> None:
    """Manage the MQTT password file (authentication.password_file)."""


def _password_file(config: Path | None, path: Path | None) -> Any:
    from hookmq.broker.auth import PasswordFile

    if path is None:
        path = _settings(config, {}).authentication.password_file
    if path is None:
        _fail("no password file: pass --password-file or set authentication.password_file in --config")
    return PasswordFile(path)


_config_opt = click.option("--config", "config", type=click.Path(path_type=Path), help="TOML configuration file.")
_file_opt = click.option("--password-file", "path", type=click.Path(path_type=Path),
                         help="Password file (default: authentication.password_file of the config).")


@user.command("add")
@_config_opt
@_file_opt
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Prompted when omitted.")
def user_add(config: Path | None, path: Path | None, username: str, password: str) -> None:
    """Add a user, or set a new password for an existing one."""
    from hookmq.broker.auth import AuthConfigError

    pwfile = _password_file(config, path)
    try:
        pwfile.add(username, password)
        pwfile.save()
    except (ValueError, AuthConfigError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"user {username!r} saved to {pwfile.path}")


@user.command("remove")
@_config_opt
@_file_opt
@click.argument("username")
def user_remove(config: Path | None, path: Path | None, username: str) -> None:
    """Remove a user."""
    from hookmq.broker.auth import AuthConfigError

    pwfile = _password_file(config, path)
    try:
        if not pwfile.remove(username):
            _fail(f"no user {username!r} in {pwfile.path}")
        pwfile.save()
    except (AuthConfigError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"user {username!r} removed")


@user.command("list")
@_config_opt
@_file_opt
def user_list(config: Path | None, path: Path | None) -> None:
    """List usernames."""
    from hookmq.broker.auth import AuthConfigError

    try:
        names = _password_file(config, path).usernames()
    except (AuthConfigError, OSError) as exc:
        _fail(str(exc))
    for name in names:
        click.echo(name)


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="The whole catalogue (fields and examples) as JSON.")
@click.pass_context
def events(ctx: click.Context, as_json: bool) -> None:
    """The event catalogue: every event a webhook can receive, with its EMQX rule topic."""
    if ctx.invoked_subcommand is not None:
        return
    from hookmq.events.catalogue import CATALOGUE

    if as_json:
        import orjson

        specs = [{"name": e.name, "rule_topic": e.rule_topic, "group": e.group, "description": e.description,
                  "fields": [{"name": f, "type": t, "description": d} for f, t, d in e.fields],
                  "example": e.example} for e in CATALOGUE]
        click.echo(orjson.dumps(specs, option=orjson.OPT_INDENT_2).decode())
        return
    width = max(len(e.name) for e in CATALOGUE)
    topic_width = max(len(e.rule_topic) for e in CATALOGUE)
    for e in CATALOGUE:
        click.echo(f"{e.name:<{width}}  {e.rule_topic:<{topic_width}}  {e.description}")


@events.command("tail")
@click.option("--event", "names", multiple=True, help="Only this event (repeatable; default: all).")
@click.option("--topic", "topics", multiple=True, help="Only message events on topics matching this filter.")
@click.option("--url", default="http://127.0.0.1:18083", envvar="HOOKMQ_URL", show_default=True,
              help="HTTP address of the running broker.")
def events_tail(names: tuple[str, ...], topics: tuple[str, ...], url: str) -> None:
    """Print live events from a running broker, one JSON object per line, until Ctrl-C."""
    import urllib.error
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode([("event", n) for n in names] + [("topic", t) for t in topics])
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/events/stream?{query}") as stream:
            for raw in stream:
                line = raw.strip()
                if line and not line.startswith(b'{"stream"'):
                    click.echo(line.decode())
    except urllib.error.HTTPError as exc:
        _fail(f"{url}: {exc.read().decode(errors='replace') or exc.reason}")
    except (urllib.error.URLError, ConnectionError) as exc:
        _fail(f"cannot reach the broker at {url}: {getattr(exc, 'reason', exc)}")
    except KeyboardInterrupt:
        pass
