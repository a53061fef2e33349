"""Command line: ``hookmq serve`` runs a node, ``hookmq user`` manages the MQTT password file, ``hookmq apikey``
the REST API's keys, ``hookmq events`` lists and tails events. The commands that drive a running node through
its REST API (``login``, ``logout``, ``webhook``, ``ctl``) live in `hookmq.cli_api` and `hookmq.cli_webhook`.

Exit status 2 means bad usage or configuration; the one-line message names the setting to fix.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from hookmq import __version__
from hookmq.cli_api import ctl, login, logout
from hookmq.cli_webhook import webhook
from hookmq.client import DEFAULT_URL, ClientError, authorization, load_login

if TYPE_CHECKING:
    from hookmq.config import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _fail(message: str) -> NoReturn:
    click.echo(f"hookmq: {message}", err=True)
    sys.exit(2)


def _settings(config: Path | None, overrides: dict[str, Any]) -> Settings:
    # Imported here: the settings model pulls in pydantic and the webhook model, which the commands that only
    # talk to a running node (webhook, ctl, events tail) do not need; each of those is a process start.
    from hookmq.config import ConfigError, load_settings

    try:
        return load_settings(config, overrides=overrides)
    except ConfigError as exc:
        _fail(str(exc))


@click.group()
@click.version_option(__version__, prog_name="hookmq")
def main() -> None:
    """hookmq: MQTT broker with durable webhooks."""


for _command in (login, logout, webhook, ctl):
    main.add_command(_command)


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
    import asyncio
    import logging

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
    _tune_garbage_collector()
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    from hookmq.config import ConfigError
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


def _tune_garbage_collector() -> None:
    """A broker makes several short-lived containers per message (packets, events, deliveries): with Python's
    default a young-generation collection runs every 700 of them. Every 10,000 costs no measurable memory and
    bench/README.md measured +5 % webhook throughput. What start-up made (modules, settings) is frozen out of
    the collections for good."""
    import gc

    gc.set_threshold(10_000, 50, 100)
    gc.freeze()


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
@click.option("--url", "--broker", "url", default=DEFAULT_URL, envvar="HOOKMQ_URL", show_default=True,
              metavar="URL", help="HTTP address of the running broker; also HOOKMQ_URL.")
@click.option("--api-key", envvar="HOOKMQ_API_KEY", metavar="KEY:SECRET",
              help="API key (hookmq apikey create); also HOOKMQ_API_KEY. Default: the token saved by hookmq login.")
@click.option("--token", envvar="HOOKMQ_TOKEN", help="Bearer token from POST /api/v1/login; also HOOKMQ_TOKEN.")
def events_tail(names: tuple[str, ...], topics: tuple[str, ...], url: str, api_key: str | None,
                token: str | None) -> None:
    """Print live events from a running broker, one JSON object per line, until Ctrl-C."""
    import urllib.error
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode([("event", n) for n in names] + [("topic", t) for t in topics])
    request = urllib.request.Request(f"{url.rstrip('/')}/api/v1/events/stream?{query}")
    header = _authorization(url, api_key, token)
    if header:
        request.add_header("Authorization", header)
    try:
        with urllib.request.urlopen(request) as stream:
            for raw in stream:
                line = raw.strip()
                if line and not line.startswith(b'{"stream"'):
                    click.echo(line.decode())
    except urllib.error.HTTPError as exc:
        message = _error_message(exc.read()) or str(exc.reason)
        if exc.code == 401:
            message += (" (log in with `hookmq login`, or pass --api-key KEY:SECRET or set HOOKMQ_API_KEY; "
                        "`hookmq apikey create --data-dir DIR` makes one)")
        _fail(f"{url}: {message}")
    except (urllib.error.URLError, ConnectionError) as exc:
        _fail(f"cannot reach the broker at {url}: {getattr(exc, 'reason', exc)}")
    except KeyboardInterrupt:
        pass


def _authorization(url: str, api_key: str | None, token: str | None) -> str | None:
    """The Authorization header for --token (bearer), --api-key (HTTP Basic key:secret) or the saved login."""
    try:
        header = authorization(api_key, token)
        if header is None:
            saved = load_login(url)
            if saved is not None and not saved.expired:
                header = f"Bearer {saved.token}"
    except (ValueError, ClientError) as exc:
        _fail(str(exc))
    return header


def _error_message(body: bytes) -> str:
    """The ``message`` of an API error body, else the body as text."""
    import orjson

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace").strip()
    return str(data.get("message", data)) if isinstance(data, dict) else str(data)


@main.command()
@_config_opt
@click.option("--data-dir", type=click.Path(path_type=Path),
              help="The node's data directory (default: data_dir of --config or the environment, else ./data).")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input (scripts).")
def passwd(config: Path | None, data_dir: Path | None, password_stdin: bool) -> None:
    """Set the dashboard admin's password offline (a forgotten password; also while the node runs).

    Sessions already logged in stay valid until their token expires; the next login needs the new password.
    """
    import os

    from hookmq.api.keystore import AuthStoreError
    from hookmq.config import password_problem

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New admin password", hide_input=True, confirmation_prompt=True)
    if problem := password_problem(password):
        _fail(f"the password {problem}")
    store = _auth_store(config, data_dir)
    try:
        store.set_admin_password(password)
    except AuthStoreError as exc:
        _fail(str(exc))
    click.echo(f"admin password changed in {store.path}")
    if os.environ.get("HOOKMQ_ADMIN_PASSWORD"):
        click.echo("note: HOOKMQ_ADMIN_PASSWORD is set here; where the node sees it, it sets the password again "
                   "at every start", err=True)


@main.group()
def apikey() -> None:
    """Manage REST API keys (<data_dir>/api_auth.json), also while the node runs: it sees changes at once.

    A key is used as HTTP Basic KEY:SECRET, e.g. by Prometheus (basic_auth), curl -u or --api-key.
    """


_data_dir_opt = click.option("--data-dir", type=click.Path(path_type=Path),
                             help="The node's data directory (default: data_dir of --config or the environment, "
                                  "else ./data).")


def _auth_store(config: Path | None, data_dir: Path | None) -> Any:
    from hookmq.api.keystore import AuthStore

    return AuthStore(data_dir if data_dir is not None else _settings(config, {}).data_dir)


@apikey.command("create")
@_config_opt
@_data_dir_opt
@click.option("--name", default="", help="What the key is for, e.g. prometheus.")
@click.option("--json", "as_json", is_flag=True, help="Print {id, key, secret, ...} as JSON.")
def apikey_create(config: Path | None, data_dir: Path | None, name: str, as_json: bool) -> None:
    """Create an API key and print its secret (shown this once only)."""
    from hookmq.api.keystore import AuthStoreError

    store = _auth_store(config, data_dir)
    try:
        key, secret = store.create_api_key(name)
    except AuthStoreError as exc:
        _fail(str(exc))
    if as_json:
        import orjson

        click.echo(orjson.dumps({**key.to_dict(), "secret": secret}).decode())
        return
    click.echo(f"API key {key.id} created; the secret is shown only now:\n"
               f"  key:     {key.key}\n  secret:  {secret}\n"
               f"Use it as HTTP Basic key:secret: curl -u '{key.key}:{secret}' ..., "
               f"or hookmq events tail --api-key '{key.key}:{secret}'")


@apikey.command("list")
@_config_opt
@_data_dir_opt
def apikey_list(config: Path | None, data_dir: Path | None) -> None:
    """List API keys (never their secrets)."""
    import time

    from hookmq.api.keystore import AuthStoreError

    store = _auth_store(config, data_dir)
    try:
        store.refresh()
    except AuthStoreError as exc:
        _fail(str(exc))
    for key in store.api_keys():
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(key.created_at))
        click.echo(f"{key.id}  {key.key}  {created}  {key.name}".rstrip())


@apikey.command("delete")
@_config_opt
@_data_dir_opt
@click.argument("key_id", metavar="ID")
def apikey_delete(config: Path | None, data_dir: Path | None, key_id: str) -> None:
    """Delete an API key (by id or key); a running node refuses it from the next request."""
    from hookmq.api.keystore import AuthStoreError

    store = _auth_store(config, data_dir)
    try:
        deleted = store.delete_api_key(key_id)
    except AuthStoreError as exc:
        _fail(str(exc))
    if not deleted:
        _fail(f"no API key {key_id!r} in {store.path}")
    click.echo(f"API key {key_id} deleted")
