"""``hookmq login|logout`` and ``hookmq webhook ...`` as real subprocesses against a real node over real HTTP,
with a real receiver (README "CLI")."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from hookmq import cli_webhook
from hookmq.webhooks.log import OUTCOMES
from tests.cli_runner import Cli
from tests.helpers import BrokerThread, wait_for
from tests.webhooks.receiver import Receiver, free_port

NEW_PASSWORD = "correct horse battery"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def test_login_changes_the_default_password_and_saves_a_token_for_every_command(
        start_broker: Callable[..., BrokerThread], tmp_path: Path) -> None:
    node = start_broker()
    cli = Cli.of(node, tmp_path, key=False)
    saved = tmp_path / "config" / "hookmq" / "credentials.json"

    cli.fails("webhook", "list", words=["credentials required", "hookmq login", "--api-key"])
    # wrong password: refused, nothing saved, no pointless hint
    err = cli.fails("login", "--password", "nope", words=["wrong username or password"])
    assert "hint" not in err and not saved.exists()
    # the first login must set a new password: a short one is refused locally and asked again
    out = cli("login", stdin=f"public\nshort\nshort\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert "must be at least 8 characters" in out.stderr and "Password changed" in out.stderr
    assert f"logged in to {cli.url} as admin" in out.stdout
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    entry = json.loads(saved.read_text())[cli.url]
    assert entry["username"] == "admin" and entry["expires_at"] > time.time()

    # every command (and events tail) now uses the saved token; an unknown event proves the stream's auth passed
    listed, tail = cli.many(["webhook", "list"], ["events", "tail", "--event", "nope"])
    assert listed.returncode == 0 and "no webhooks" in listed.stdout, listed.stderr
    assert tail.returncode == 2 and "unknown event 'nope'" in tail.stderr
    # the new password works; the old one does not (and asks for no change)
    assert "logged in" in cli.ok("login", "--password", NEW_PASSWORD)
    cli.fails("login", "--password", "public", words=["wrong username or password"])
    token = json.loads(saved.read_text())[cli.url]["token"]
    assert token != entry["token"]

    assert cli.ok("logout") == f"logged out of {cli.url}\n"
    assert not saved.exists()  # it held this URL only
    assert "not logged in" in cli.ok("logout")
    cli.fails("webhook", "list", words=["hookmq login"])
    # logout ended the session on the node: the token alone is refused
    cli.fails("webhook", "list", "--token", token, words=["check --api-key"])


def test_non_interactive_login_and_an_expired_saved_login(start_broker: Callable[..., BrokerThread],
                                                          tmp_path: Path) -> None:
    node = start_broker(api={"admin_password": NEW_PASSWORD, "token_ttl": 1})
    cli = Cli.of(node, tmp_path, key=False)
    cli("login", "--password", NEW_PASSWORD, "--new-password", "ignored: no change needed")
    time.sleep(1.1)
    cli.fails("webhook", "list", words=["expired", "hookmq login"])


def test_create_show_update_list_and_delete(start_broker: Callable[..., BrokerThread], tmp_path: Path,
                                            receiver: Receiver) -> None:
    node = start_broker()
    cli = Cli.of(node, tmp_path)

    out = cli.ok("webhook", "create", "alerts", "--url", receiver.url, "--event", "message.publish",
                 "--topic", "t/#", "--topic", "s/+", "--header", "Authorization: Bearer sekrit-token",
                 "--generate-secret", "--set", "ordering=client", "--set", "retry.max_attempts=5",
                 "--set", "batch_time=50ms", "--set", "description=from the CLI")
    assert "webhook alerts created" in out
    secret = out.split("signing secret")[1].split(": ", 1)[1].strip()
    assert secret.startswith("whsec_")

    info = cli.json("webhook", "show", "alerts")
    assert info["topics"] == ["t/#", "s/+"] and info["ordering"] == "client" and info["batch_time"] == 50
    assert info["retry"]["max_attempts"] == 5 and info["retry"]["factor"] == 2  # the other retry fields stay
    assert info["headers"] == {"content-type": "application/json", "authorization": "******"}  # default kept
    assert info["secret"] == "******" and info["description"] == "from the CLI" and info["source"] == "api"

    # update merges onto the current settings; the masked secret and credential header stay what they were
    cli("webhook", "update", "alerts", "--set", "retry.max_attempts=7", "--header", "x-extra=${clientid}",
        "--header", "content-type=", "--body", '{"who": "${clientid}"}', "--event", "all", "--topic", "t/#")
    info = cli.json("webhook", "show", "alerts")
    assert info["retry"]["max_attempts"] == 7 and info["ordering"] == "client" and info["batch_time"] == 50
    assert info["headers"] == {"authorization": "******", "x-extra": "${clientid}"}
    assert info["events"] == ["all"] and info["topics"] == ["t/#"] and info["secret"] == "******"
    assert cli.ok("webhook", "test", "alerts").startswith("HTTP 200 OK in ")
    request = receiver.requests[-1]
    assert request.headers["authorization"] == "Bearer sekrit-token" and request.headers["x-extra"] == "c_emqx_1"
    assert Webhook(secret).verify(request.body, request.headers) == {"who": "c_emqx_1"}  # still the same secret

    shown = cli.ok("webhook", "show", "alerts")
    for line in ("source:", "API", "authorization: ******", "retry.max_attempts:", "batch_time:", "50 ms",
                 "queue:", "matched:", "latency:"):
        assert line in shown, line
    assert "sekrit-token" not in shown and secret not in shown

    # from files: a JSON webhook, and one picked by name from a config file's [[webhooks]]
    (tmp_path / "hook.json").write_text(json.dumps({"name": "fromjson", "url": receiver.url, "events": ["all"]}))
    (tmp_path / "hooks.toml").write_text(f'[[webhooks]]\nname = "one"\nurl = "{receiver.url}"\n\n'
                                         f'[[webhooks]]\nname = "two"\nurl = "{receiver.url}two"\nmethod = "PUT"\n')
    (tmp_path / "body.tmpl").write_text('{"t": "${topic}"}')
    made = cli.many(["webhook", "create", "--file", str(tmp_path / "hook.json")],
                    ["webhook", "create", "two", "--file", str(tmp_path / "hooks.toml"), "--body", "@" +
                     str(tmp_path / "body.tmpl")],
                    ["webhook", "create", "--file", str(tmp_path / "hooks.toml")])
    assert [r.returncode for r in made] == [0, 0, 2], [r.stderr for r in made]
    assert "holds 2 webhooks (one, two); give the NAME" in made[2].stderr

    infos = cli.json("webhook", "list")
    assert sorted(i["name"] for i in infos) == ["alerts", "fromjson", "two"]  # in the order they were created
    two = next(i for i in infos if i["name"] == "two")
    assert two["method"] == "PUT" and two["url"] == receiver.url + "two" and two["body"] == '{"t": "${topic}"}'
    lines = cli.ok("webhook", "list").splitlines()
    assert lines[0].split() == ["NAME", "SOURCE", "ENABLED", "STATUS", "SUCCESS", "FAILED", "QUEUING", "URL"]
    assert lines[1].split()[:3] == ["alerts", "api", "yes"] and lines[1].split()[-1] == receiver.url  # first made
    assert len({line.index("URL" if n == 0 else "http") for n, line in enumerate(lines)}) == 1  # aligned

    # disable and enable; delete asks first
    assert cli.ok("webhook", "disable", "two") == "webhook two disabled\n"
    assert cli.json("webhook", "show", "two")["enable"] is False
    assert "webhook two enabled" in cli.ok("webhook", "enable", "two")
    result = cli("webhook", "delete", "two", stdin="n\n", code=1)
    assert "Delete webhook 'two'" in result.stderr and "Aborted" in result.stderr
    assert cli.ok("webhook", "delete", "two", "--yes") == "webhook two deleted\n"
    assert sorted(i["name"] for i in cli.json("webhook", "list")) == ["alerts", "fromjson"]


def test_errors_name_the_field_and_exit_1_usage_errors_exit_2(start_broker: Callable[..., BrokerThread],
                                                              tmp_path: Path, receiver: Receiver) -> None:
    node = start_broker(webhooks=[{"name": "filed", "url": receiver.url}])
    cli = Cli.of(node, tmp_path)
    results = cli.many(
        ["webhook", "create", "bad", "--url", "ftp://nowhere", "--set", "batch_size=0", "--set", "colour=red"],
        ["webhook", "create", "filed", "--url", receiver.url],
        ["webhook", "update", "filed", "--set", "retry.max_attempts=3"],
        ["webhook", "delete", "filed", "--yes"],
        ["webhook", "show", "ghost"],
        ["webhook", "update", "ghost", "--url", receiver.url],
        ["webhook", "deliveries", "ghost"],
        ["webhook", "test", "ghost"],
    )
    assert [r.returncode for r in results] == [1] * 8, [r.stderr for r in results]
    invalid = results[0].stderr.splitlines()
    assert invalid[0] == "hookmq: invalid webhook"
    assert any(line.startswith("  webhooks[bad].url: ") for line in invalid)
    assert any(line.startswith("  webhooks[bad].batch_size: ") for line in invalid)
    assert any(line.startswith("  webhooks[bad].colour: unknown setting") for line in invalid)
    assert "already exists" in results[1].stderr
    for result in results[2:4]:
        assert "defined in the config file and is read-only" in result.stderr
    for result in results[4:]:
        assert result.stderr.startswith("hookmq: no webhook named 'ghost'"), result.stderr

    # a config-file webhook can still be disabled and enabled (until the restart)
    assert cli.ok("webhook", "disable", "filed") == "webhook filed disabled\n"
    listed = cli.json("webhook", "list")
    assert [(i["name"], i["source"], i["read_only"], i["enable"]) for i in listed] == [("filed", "file", True, False)]
    assert "(read-only)" in cli.ok("webhook", "show", "filed")

    usage = cli.many(
        ["webhook", "create", "nourl"],
        ["webhook", "update", "filed"],
        ["webhook", "create", "x", "--url", receiver.url, "--secret", "whsec_x", "--generate-secret"],
        ["webhook", "create", "x", "--url", receiver.url, "--set", "novalue"],
        ["webhook", "create", "x", "--url", receiver.url, "--header", "novalue"],
        ["webhook", "create", "x", "--url", receiver.url, "--file", str(tmp_path / "missing.json")],
        ["webhook", "test"],
        ["webhook", "deliveries", "filed", "--outcome", "great"],
        ["webhook", "list", "--api-key", "no-colon"],
        ["webhook", "list", "--url", "localhost:18083"],
    )
    assert [r.returncode for r in usage] == [2] * 10, [r.stderr for r in usage]
    for result, words in zip(usage, ["--url URL", "nothing to change", "not both", "KEY=VALUE", "NAME=VALUE",
                                     "missing.json", "NAME of a webhook", "great", "KEY:SECRET", "http://"],
                             strict=True):
        assert words in result.stderr, (words, result.stderr)

    down = f"http://127.0.0.1:{free_port()}"
    cli.fails("webhook", "list", "--url", down, words=[f"cannot reach hookmq at {down}", "connection refused",
                                                       "Is hookmq running?", "HOOKMQ_URL"])
    cli.fails("webhook", "list", "--api-key", "nokey:nosecret", words=["wrong API key", "check --api-key"])


def test_test_deliveries_metrics_dead_letters_and_replay(start_broker: Callable[..., BrokerThread],
                                                         tmp_path: Path, receiver: Receiver) -> None:
    node = start_broker()
    cli = Cli.of(node, tmp_path)
    cli("webhook", "create", "hook", "--url", receiver.url, "--topic", "t/#",
        "--set", 'retry={"max_attempts": 1, "initial_backoff": "10ms"}')

    # unsaved settings: the receiver gets a real request and its answer is shown; no 2xx = exit 1
    receiver.respond((202, {"x-answer": "yes"}, b"accepted!"))
    out = cli.ok("webhook", "test", "--url", receiver.url + "draft", "--header", "x-try=1", "-v")
    assert "> POST " + receiver.url + "draft" in out and "> webhook-test: true" in out
    assert "HTTP 202 Accepted in " in out and "x-answer: yes" in out and out.rstrip().endswith("accepted!")
    assert receiver.requests[-1].path == "/draft" and receiver.requests[-1].headers["x-try"] == "1"
    closed = f"http://127.0.0.1:{free_port()}/"
    failed = cli("webhook", "test", "--url", closed, code=1).stdout
    assert failed.startswith("error after ") and "a delivery would be retried" in failed
    receiver.respond(503)
    result = json.loads(cli("webhook", "test", "hook", "--event", "client.connected", "--json", code=1).stdout)
    assert result["ok"] is False and result["status"] == 503 and result["outcome"] == "retry"
    assert "HTTP 503 Service Unavailable" in cli("webhook", "test", "hook", code=1).stdout
    # a saved webhook with unsaved changes: the change is used, not saved
    receiver.respond(200)
    cli("webhook", "test", "hook", "--url", receiver.url + "changed")
    assert receiver.requests[-1].path == "/changed"
    assert cli.json("webhook", "show", "hook")["url"] == receiver.url

    # a message published with ctl goes out, and shows in the delivery log and metrics
    cli("ctl", "publish", "t/1", "hello")
    wait_for(lambda: [e for e in receiver.events() if e.get("topic") == "t/1"], message="the published message")
    assert receiver.events()[-1]["payload"] == "hello" and receiver.events()[-1]["clientid"] == "http_api"
    wait_for(lambda: cli.json("webhook", "metrics", "hook")["success"] == 1, message="success counted")
    attempts = cli.json("webhook", "deliveries", "hook")
    assert [a["outcome"] for a in attempts] == ["success", "test", "test", "test"]
    assert [a["outcome"] for a in cli.json("webhook", "deliveries", "hook", "--outcome", "success")] == ["success"]
    assert cli_webhook.OUTCOMES == OUTCOMES  # --outcome offers every outcome
    log = cli.ok("webhook", "deliveries", "hook", "--limit", "2").splitlines()
    assert len(log) == 3 and log[0].split()[:4] == ["TIME", "OUTCOME", "STATUS", "LATENCY"]
    assert log[1].split()[2:4] == ["success", "200"] and log[2].split()[2:4] == ["test", "200"]
    metrics = cli.ok("webhook", "metrics", "hook")
    assert "matched:" in metrics and "success 1" in metrics and "latency:" in metrics
    assert cli.json("webhook", "metrics", "hook", "--reset")["success"] == 0

    # a 400 fails at once into the dead letters; replay sends them again
    assert "no dead letters" in cli.ok("webhook", "dead-letters", "hook")
    receiver.respond(400)
    cli("ctl", "publish", "t/2", "first")
    cli("ctl", "publish", "t/3", "second")
    page = wait_for(lambda: (p := cli.json("webhook", "dead-letters", "hook"))["meta"]["total"] == 2 and p,
                    message="two dead letters")
    first, second = page["data"]
    assert first["payload"]["payload"] == "first" and first["status"] == 400 and first["attempts"] == 1
    table = cli.ok("webhook", "dead-letters", "hook")
    assert first["delivery_id"] in table and "2 dead letters; replay:" in table
    receiver.respond(200)
    assert cli.ok("webhook", "replay", "hook", "--id", second["delivery_id"]) == "1 dead letter queued again\n"
    wait_for(lambda: receiver.events()[-1].get("payload") == "second", message="replayed")
    assert cli.ok("webhook", "replay", "hook") == "1 dead letter queued again\n"
    wait_for(lambda: receiver.events()[-1].get("payload") == "first", message="replayed")
    assert cli.json("webhook", "dead-letters", "hook")["meta"]["total"] == 0
