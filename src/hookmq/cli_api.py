"""The commands that drive a running node through its REST API: ``hookmq login|logout`` and ``hookmq ctl ...``
here, ``hookmq webhook ...`` in `hookmq.cli_webhook`, with the connection options and output helpers they share.

Every command finds the node with ``--url`` (``--broker`` on ``webhook create|update|test``, where ``--url`` is
the webhook's URL) or ``HOOKMQ_URL``, and authenticates with ``--api-key KEY:SECRET`` / ``HOOKMQ_API_KEY``,
``--token`` / ``HOOKMQ_TOKEN``, or the token ``hookmq login`` saved for that URL.

Exit status: 0 done; 1 the node refused (its message and each ``errors`` line on stderr) or could not be reached,
or a webhook test got no 2xx; 2 bad usage.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click
import orjson

from hookmq.client import (
    DEFAULT_URL,
    ApiError,
    Client,
    ClientError,
    authorization,
    forget_login,
    load_login,
    normalize_url,
    quote,
    save_login,
)

__all__ = ["api_command", "ctl", "fail", "login", "logout", "ms", "pairs", "print_json", "table", "when"]

PROTOCOLS = {3: "3.1", 4: "3.1.1", 5: "5.0"}
LOGIN_HINT = "log in with `hookmq login`, or pass --api-key KEY:SECRET / set HOOKMQ_API_KEY (`hookmq apikey create`)"


def fail(message: str, status: int = 1) -> NoReturn:
    click.echo(f"hookmq: {message}", err=True)
    sys.exit(status)


def print_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(text(v) for v in value) if value else "-"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Aligned columns, a header line first."""
    cells = [[text(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    for row in [list(headers), *cells]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def pairs(rows: Sequence[tuple[str, Any]]) -> None:
    """``key  value`` lines, aligned; a value with several lines continues under the first."""
    width = max((len(key) for key, _ in rows), default=0)
    for key, value in rows:
        lines = text(value).splitlines() or [""]
        click.echo(f"{key + ':':<{width + 1}}  {lines[0]}".rstrip())
        for line in lines[1:]:
            click.echo(f"{'':<{width + 1}}  {line}")


def when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}"


def ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f} ms"


# ---------------------------------------------------------------------------------------------- connection


@dataclass(frozen=True, slots=True)
class _Credentials:
    header: str | None
    source: str  # "given" (flag or environment), "saved", "expired" (a saved login past its time), "none"
    detail: str = ""


def _credentials(url: str, api_key: str | None, token: str | None) -> _Credentials:
    try:
        header = authorization(api_key, token)
    except ValueError as exc:
        fail(str(exc), 2)
    if header is not None:
        return _Credentials(header, "given")
    try:
        saved = load_login(url)
    except ClientError as exc:
        fail(str(exc))
    if saved is None:
        return _Credentials(None, "none")
    if saved.expired:
        return _Credentials(None, "expired", when(saved.expires_at)[:19])
    return _Credentials(f"Bearer {saved.token}", "saved")


def _report(exc: ClientError, url: str, credentials: _Credentials) -> NoReturn:
    """Print what went wrong (the API's message, each ``errors`` line, a hint) and exit 1."""
    if not isinstance(exc, ApiError):
        fail(str(exc))
    head = exc.message
    if exc.errors and all(line in head for line in exc.errors):  # "invalid webhook: a; b" + ["a", "b"]
        head = head[:head.index(exc.errors[0])].rstrip(" :;") or head
    click.echo(f"hookmq: {head}", err=True)
    for line in exc.errors:
        click.echo(f"  {line}", err=True)
    hint = ""
    if exc.status == 401:
        hint = {"saved": f"the login saved for {url} is no longer valid (it expired, was logged out, or the node "
                         f"restarted): {LOGIN_HINT}",
                "expired": f"the login saved for {url} expired at {credentials.detail}: {LOGIN_HINT}",
                "given": "check --api-key / HOOKMQ_API_KEY and --token / HOOKMQ_TOKEN, or log in with "
                         "`hookmq login`", "none": LOGIN_HINT}.get(credentials.source, "")
    elif exc.code == "PASSWORD_CHANGE_REQUIRED":
        hint = "`hookmq login` asks for the new password and saves a token"
    if hint:
        click.echo(f"hint: {hint}", err=True)
    sys.exit(1)


def api_command(*, url_flag: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Add the connection options to a command, and hand it a `Client` as ``api`` (errors exit 1).

    ``url_flag=False`` leaves ``--url`` to the command (the webhook's URL); the node is then ``--broker``.
    """
    names = ("--url", "--broker") if url_flag else ("--broker",)

    def decorate(fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def wrapper(*args: Any, broker_url: str, api_key: str | None, token: str | None, **kwargs: Any) -> None:
            url = _url(broker_url)
            credentials = _credentials(url, api_key, token)
            try:
                fn(*args, api=Client(url, credentials.header), **kwargs)
            except ClientError as exc:
                _report(exc, url, credentials)

        wrapper = click.option("--token", envvar="HOOKMQ_TOKEN", metavar="TOKEN",
                               help="Bearer token of POST /api/v1/login; also HOOKMQ_TOKEN.")(wrapper)
        wrapper = click.option("--api-key", envvar="HOOKMQ_API_KEY", metavar="KEY:SECRET",
                               help="API key (hookmq apikey create); also HOOKMQ_API_KEY. Default: the token "
                                    "saved by hookmq login.")(wrapper)
        return click.option(*names, "broker_url", default=DEFAULT_URL, envvar="HOOKMQ_URL", show_default=True,
                            metavar="URL", help="HTTP address of the running node; also HOOKMQ_URL.")(wrapper)

    return decorate


def _url(url: str) -> str:
    try:
        return normalize_url(url)
    except ValueError as exc:
        fail(f"--url / HOOKMQ_URL: {exc}", 2)


_broker_url_opt = click.option("--url", "--broker", "broker_url", default=DEFAULT_URL, envvar="HOOKMQ_URL",
                               show_default=True, metavar="URL", help="HTTP address of the node; also HOOKMQ_URL.")


# ---------------------------------------------------------------------------------------------- login, logout


@click.command()
@_broker_url_opt
@click.option("--username", default="admin", show_default=True)
@click.option("--password", help="Prompted for (hidden) when omitted.")
@click.option("--new-password", help="Only when the default password must still be changed: the new one "
                                     "(prompted for when omitted).")
def login(broker_url: str, username: str, password: str | None, new_password: str | None) -> None:
    """Log in; save a token for the other commands.

    At the first login with the default password (admin/public) a new one is asked for and set. The token is
    saved in $XDG_CONFIG_HOME/hookmq/credentials.json (~/.config/hookmq/), mode 0600, for this --url only;
    it expires after the node's api.token_ttl (default 1 h) and when the node restarts.
    """
    url = _url(broker_url)
    client = Client(url)
    if password is None:
        password = click.prompt("Password", hide_input=True, err=True)
    try:
        answer = client.post("/login", {"username": username, "password": password})
        token = str(answer["token"])
        if answer.get("password_change_required"):
            _change_password(Client(url, f"Bearer {token}"), password, new_password)
        path = save_login(url, token, username, answer.get("expires_at"))
    except ClientError as exc:
        _report(exc, url, _Credentials(None, "login"))
    until = when(answer.get("expires_at"))[:19]
    click.echo(f"logged in to {url} as {username}; token saved in {path} (valid until {until})")


def _change_password(client: Client, old: str, new_password: str | None) -> None:
    from hookmq.config import password_problem

    click.echo("The default password must be changed before the API can be used.", err=True)
    for _ in range(3):
        new = new_password if new_password is not None else click.prompt(
            "New password (8 characters or more)", hide_input=True, confirmation_prompt=True, err=True)
        problem = "must differ from the old one" if new == old else password_problem(new)
        if problem is None:
            client.put("/password", {"old_password": old, "new_password": new})
            click.echo("Password changed.", err=True)
            return
        if new_password is not None:
            fail(f"--new-password: {problem}", 2)
        click.echo(f"The new password {problem}; try again.", err=True)
    fail("the password was not changed")


@click.command()
@_broker_url_opt
def logout(broker_url: str) -> None:
    """Log out and forget the saved token."""
    url = _url(broker_url)
    try:
        saved = load_login(url)
    except ClientError as exc:
        fail(str(exc))
    if saved is None:
        click.echo(f"not logged in to {url}")
        return
    try:
        Client(url, f"Bearer {saved.token}").post("/logout")
    except ApiError as exc:
        if exc.status != 401:  # 401: the token had already ended
            click.echo(f"hookmq: {exc.message} (the token is forgotten here anyway)", err=True)
    except ClientError as exc:
        click.echo(f"hookmq: {exc} (the token is forgotten here anyway)", err=True)
    forget_login(url)
    click.echo(f"logged out of {url}")


# ---------------------------------------------------------------------------------------------- ctl


@click.group()
def ctl() -> None:
    """Clients, publishing and statistics of a node."""


@ctl.command("clients")
@click.option("--like", help="Only client ids containing this text.")
@click.option("--username", help="Only clients with this username.")
@click.option("--limit", type=click.IntRange(1, 1000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The page as the API returns it.")
@api_command()
def ctl_clients(api: Client, like: str | None, username: str | None, limit: int, as_json: bool) -> None:
    """List connected clients."""
    page = api.get("/clients", like_clientid=like, username=username, limit=limit)
    if as_json:
        print_json(page)
        return
    rows, meta = page["data"], page["meta"]
    if not rows:
        click.echo("no clients connected")
        return
    table(["CLIENT ID", "USERNAME", "PEER", "MQTT", "KEEPALIVE", "SUBS", "QUEUED", "CONNECTED AT"],
           [[c["clientid"], c["username"], c["peername"], PROTOCOLS.get(c["proto_ver"], c["proto_ver"]),
             c["keepalive"], c["subscriptions"], c["queued"], when(c["connected_at"] / 1000)[:19]] for c in rows])
    if meta["total"] > len(rows):
        click.echo(f"\n{len(rows)} of {meta['total']} clients")


@ctl.command("kick")
@click.argument("clientid")
@api_command()
def ctl_kick(api: Client, clientid: str) -> None:
    """Disconnect a client.

    MQTT 5 clients get DISCONNECT 0x98 (administrative action); a persistent session stays.
    """
    api.delete(f"/clients/{quote(clientid)}")
    click.echo(f"client {clientid} kicked")


@ctl.command("publish")
@click.argument("topic")
@click.argument("message")
@click.option("--qos", type=click.IntRange(0, 2), default=0, show_default=True)
@click.option("--retain", is_flag=True)
@click.option("--clientid", default="http_api", show_default=True, help="The publisher's client id in events.")
@click.option("--json", "as_json", is_flag=True, help="The answer as the API returns it.")
@api_command()
def ctl_publish(api: Client, topic: str, message: str, qos: int, retain: bool, clientid: str,
                as_json: bool) -> None:
    """Publish a message.

    MESSAGE '-' reads standard input. It is routed as a client's: subscribers, events and webhooks see it.
    """
    payload = sys.stdin.read() if message == "-" else message
    answer = api.post("/publish", {"topic": topic, "payload": payload, "qos": qos, "retain": retain,
                                   "clientid": clientid})
    if as_json:
        print_json(answer)
        return
    matched = answer["matched"]
    click.echo(f"published to {topic}: {matched} subscriber{'' if matched == 1 else 's'} (message {answer['id']})")


@ctl.command("stats")
@click.option("--json", "as_json", is_flag=True, help="As the API returns them.")
@api_command()
def ctl_stats(api: Client, as_json: bool) -> None:
    """Node statistics.

    Connections, messages, sessions, subscriptions, retained messages and a webhook summary.
    """
    stats = api.get("/stats")
    if as_json:
        print_json(stats)
        return
    hooks = stats.pop("webhooks", {})
    uptime = int(stats.pop("uptime", 0))
    rows: list[tuple[str, Any]] = [("node", stats.pop("node")), ("version", stats.pop("version")),
                                   ("uptime", f"{uptime // 86400}d {uptime % 86400 // 3600}h "
                                              f"{uptime % 3600 // 60}m {uptime % 60}s")]
    rows += list(stats.items())
    if hooks:
        by_status = ", ".join(f"{k} {v}" for k, v in sorted(hooks.get("by_status", {}).items()))
        rows.append(("webhooks", f"{hooks['total']} ({hooks['enabled']} enabled{'; ' + by_status if by_status else ''})"
                                 f"; matched {hooks['matched']}, success {hooks['success']}, failed {hooks['failed']}"
                                 f", dropped {hooks['dropped']}, queuing {hooks['queuing']}"))
    pairs(rows)
