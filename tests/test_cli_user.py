"""``hookmq user add|list|remove`` as real subprocesses, and a running broker picking up the edits without a
restart (README "Authentication and authorization")."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hookmq.broker.auth import PasswordFile
from hookmq.mqtt import ProtocolVersion, ReasonCode
from tests.helpers import ROOT, BrokerThread, raw_client, wait_for

V4 = ProtocolVersion.MQTT_3_1_1
V5 = ProtocolVersion.MQTT_5


def hookmq(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
           cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # A new session has no controlling terminal, so a password prompt reads stdin instead of /dev/tty.
    return subprocess.run([sys.executable, "-m", "hookmq", *args], input=stdin, capture_output=True, text=True,
                          timeout=30, cwd=cwd, env=dict(os.environ, **(env or {})), start_new_session=True,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def fails(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    return result.stderr


@pytest.fixture
def pwfile(tmp_path: Path) -> Path:
    return tmp_path / "passwd"


def test_add_list_remove(pwfile: Path) -> None:
    out = ok(hookmq("user", "add", "bob", "--password", "hunter2", "--password-file", str(pwfile)))
    assert "bob" in out
    assert pwfile.exists()
    assert stat.S_IMODE(pwfile.stat().st_mode) == 0o600
    assert "hunter2" not in pwfile.read_text()
    ok(hookmq("user", "add", "alice", "--password", "s3cret", "--password-file", str(pwfile)))

    assert ok(hookmq("user", "list", "--password-file", str(pwfile))).splitlines() == ["alice", "bob"]
    users = PasswordFile.open_existing(pwfile)
    assert users.verify("alice", b"s3cret") and users.verify("bob", b"hunter2")
    assert not users.verify("alice", b"hunter2")

    out = ok(hookmq("user", "remove", "alice", "--password-file", str(pwfile)))
    assert "alice" in out
    assert ok(hookmq("user", "list", "--password-file", str(pwfile))).splitlines() == ["bob"]


def test_add_existing_user_changes_the_password(pwfile: Path) -> None:
    ok(hookmq("user", "add", "bob", "--password", "old", "--password-file", str(pwfile)))
    ok(hookmq("user", "add", "bob", "--password", "new", "--password-file", str(pwfile)))
    assert ok(hookmq("user", "list", "--password-file", str(pwfile))).splitlines() == ["bob"]
    users = PasswordFile.open_existing(pwfile)
    assert users.verify("bob", b"new") and not users.verify("bob", b"old")


def test_add_prompts_for_the_password(pwfile: Path) -> None:
    result = hookmq("user", "add", "carol", "--password-file", str(pwfile), stdin="pa55word\npa55word\n")
    ok(result)
    assert "pa55word" not in result.stdout
    assert PasswordFile.open_existing(pwfile).verify("carol", b"pa55word")


def test_add_prompt_confirmation_mismatch_does_not_save(pwfile: Path) -> None:
    result = hookmq("user", "add", "carol", "--password-file", str(pwfile), stdin="one\ntwo\n")
    assert result.returncode != 0
    assert not pwfile.exists() or "carol" not in pwfile.read_text()


def test_list_of_a_missing_file_is_empty(pwfile: Path) -> None:
    assert ok(hookmq("user", "list", "--password-file", str(pwfile))) == ""


def test_password_file_from_config(tmp_path: Path, pwfile: Path) -> None:
    config = tmp_path / "hookmq.toml"
    config.write_text(f'[authentication]\npassword_file = "{pwfile}"\n')
    ok(hookmq("user", "add", "dave", "--password", "pw", "--config", str(config)))
    assert ok(hookmq("user", "list", "--config", str(config))).splitlines() == ["dave"]
    assert PasswordFile.open_existing(pwfile).usernames() == ["dave"]
    ok(hookmq("user", "remove", "dave", "--config", str(config)))
    assert ok(hookmq("user", "list", "--password-file", str(pwfile))) == ""


def test_password_file_from_environment(pwfile: Path) -> None:
    env = {"HOOKMQ_AUTHENTICATION__PASSWORD_FILE": str(pwfile)}
    ok(hookmq("user", "add", "erin", "--password", "pw", env=env))
    assert ok(hookmq("user", "list", env=env)).splitlines() == ["erin"]


# ------------------------------------------------------------------ errors: exit status 2


def test_remove_unknown_user_exits_2(pwfile: Path) -> None:
    ok(hookmq("user", "add", "bob", "--password", "pw", "--password-file", str(pwfile)))
    before = pwfile.read_bytes()
    fails(hookmq("user", "remove", "nobody", "--password-file", str(pwfile)), "nobody")
    assert pwfile.read_bytes() == before


@pytest.mark.parametrize("username", ["a:b", "#comment", "new\nline"])
def test_add_invalid_username_exits_2(pwfile: Path, username: str) -> None:
    fails(hookmq("user", "add", username, "--password", "pw", "--password-file", str(pwfile)))
    assert not pwfile.exists()


def test_add_empty_username_exits_2(pwfile: Path) -> None:
    fails(hookmq("user", "add", "", "--password", "pw", "--password-file", str(pwfile)), "empty")


@pytest.mark.parametrize("command", [["add", "bob", "--password", "pw"], ["list"], ["remove", "bob"]])
def test_no_password_file_configured_exits_2(tmp_path: Path, command: list[str]) -> None:
    fails(hookmq("user", *command, cwd=tmp_path), "password")


def test_missing_config_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    fails(hookmq("user", "list", "--config", str(missing)), str(missing))


def test_bad_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "hookmq.toml"
    config.write_text("[authentication]\npasword_file = 'x'\n")
    fails(hookmq("user", "list", "--config", str(config)), "authentication.pasword_file")


def test_add_to_malformed_file_exits_2(pwfile: Path) -> None:
    pwfile.write_text("this line has no colon\n")
    fails(hookmq("user", "add", "bob", "--password", "pw", "--password-file", str(pwfile)), str(pwfile))
    assert pwfile.read_text() == "this line has no colon\n"


@pytest.mark.parametrize("command", [["list"], ["remove", "bob"]])
def test_list_or_remove_on_malformed_file_exits_2(pwfile: Path, command: list[str]) -> None:
    pwfile.write_text("this line has no colon\n")
    fails(hookmq("user", *command, "--password-file", str(pwfile)), str(pwfile))


def test_unwritable_directory_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "passwd"
    fails(hookmq("user", "add", "bob", "--password", "pw", "--password-file", str(target)))


# ------------------------------------------------------------------ a running broker sees the edits


def connect_code(port: int, version: int, username: str, password: bytes) -> int:
    with raw_client(port, version) as client:
        return client.connect(f"cli-{username}", username=username, password=password).reason_code


def test_running_broker_accepts_a_new_user_without_restart(start_broker: Callable[..., BrokerThread],
                                                           pwfile: Path) -> None:
    ok(hookmq("user", "add", "bob", "--password", "hunter2", "--password-file", str(pwfile)))
    node = start_broker(authentication={"password_file": str(pwfile), "allow_anonymous": False})
    assert connect_code(node.port, V5, "bob", b"hunter2") == 0
    assert connect_code(node.port, V5, "alice", b"s3cret") == ReasonCode.BAD_USERNAME_OR_PASSWORD
    assert connect_code(node.port, V4, "alice", b"s3cret") == 4

    ok(hookmq("user", "add", "alice", "--password", "s3cret", "--password-file", str(pwfile)))
    # the broker polls the file at most once a second
    wait_for(lambda: connect_code(node.port, V5, "alice", b"s3cret") == 0, timeout=10, message="alice accepted")
    assert connect_code(node.port, V4, "alice", b"s3cret") == 0
    assert connect_code(node.port, V5, "alice", b"wrong") == ReasonCode.BAD_USERNAME_OR_PASSWORD

    ok(hookmq("user", "remove", "bob", "--password-file", str(pwfile)))
    wait_for(lambda: connect_code(node.port, V5, "bob", b"hunter2") == ReasonCode.BAD_USERNAME_OR_PASSWORD,
             timeout=10, message="bob refused")
    assert connect_code(node.port, V5, "alice", b"s3cret") == 0


def test_running_broker_sees_a_password_change(start_broker: Callable[..., BrokerThread], pwfile: Path) -> None:
    ok(hookmq("user", "add", "bob", "--password", "old", "--password-file", str(pwfile)))
    node = start_broker(authentication={"password_file": str(pwfile), "allow_anonymous": False})
    assert connect_code(node.port, V4, "bob", b"old") == 0
    ok(hookmq("user", "add", "bob", "--password", "new", "--password-file", str(pwfile)))
    wait_for(lambda: connect_code(node.port, V4, "bob", b"new") == 0, timeout=10, message="new password")
    assert connect_code(node.port, V4, "bob", b"old") == 4
