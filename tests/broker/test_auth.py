"""Tests for the argon2 password file: round trips through real files, live reload, bad input."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from hookmq.broker import auth
from hookmq.broker.auth import AuthConfigError, PasswordFile, PasswordFileNotFoundError

# Any syntactically valid argon2 hash works for parser tests; this one is of the password "x".
SAMPLE_HASH = "$argon2id$v=19$m=19456,t=2,p=1$WEtgnVxyFnZoEobhXqwtqw$3ZG9X9iRRBIxUaQK+HZWd/nuYX3xgoqtIFsnkw66JZg"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(auth, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "passwd"


def test_add_save_reopen_verify_remove_round_trip(path: Path) -> None:
    users = PasswordFile(path)
    users.add("bob", "hunter2")
    users.add("alice", "s3cret")
    users.save()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["passwd"], "no temp file may be left behind"
    assert "s3cret" not in path.read_text()

    reopened = PasswordFile.open_existing(path)
    assert reopened.usernames() == ["alice", "bob"]
    assert reopened.verify("alice", b"s3cret")
    assert reopened.verify("bob", b"hunter2")
    assert not reopened.verify("alice", b"hunter2")

    assert reopened.remove("bob")
    assert not reopened.remove("bob")
    reopened.save()
    assert PasswordFile.open_existing(path).usernames() == ["alice"]


def test_add_replaces_existing_password(path: Path) -> None:
    users = PasswordFile(path)
    users.add("alice", "old")
    users.add("alice", "new")
    assert users.usernames() == ["alice"]
    assert users.verify("alice", b"new")
    assert not users.verify("alice", b"old")


@pytest.mark.parametrize(
    ("username", "password"),
    [(None, b"pw"), ("alice", None), (None, None), ("nobody", b"pw"), ("alice", b""), ("alice", b"\xff\xfe\x00")],
)
def test_verify_rejects_bad_input_without_raising(path: Path, username: str | None, password: bytes | None) -> None:
    users = PasswordFile(path)
    users.add("alice", "pw")
    assert users.verify(username, password) is False


def test_unknown_user_still_runs_a_verify_against_a_dummy_hash(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_hasher = auth._HASHER
    verified_hashes: list[str] = []

    class SpyHasher:
        def hash(self, password: str) -> str:
            return real_hasher.hash(password)

        def verify(self, pw_hash: str, password: bytes) -> bool:
            verified_hashes.append(pw_hash)
            return real_hasher.verify(pw_hash, password)

    monkeypatch.setattr(auth, "_HASHER", SpyHasher())
    users = PasswordFile(path)
    users.add("alice", "pw")

    # Even the dummy password itself must not log in a user that does not exist.
    assert not users.verify("mallory", b"hookmq-dummy-password-for-unknown-users")
    assert verified_hashes == [auth._dummy_hash()]


def test_missing_file_loads_as_empty(path: Path) -> None:
    users = PasswordFile(path)
    users.load()
    assert users.usernames() == []
    assert not users.verify("alice", b"pw")


def test_open_existing_names_the_missing_path(path: Path) -> None:
    with pytest.raises(PasswordFileNotFoundError, match="does not exist") as excinfo:
        PasswordFile.open_existing(path)
    assert str(path) in str(excinfo.value)
    assert isinstance(excinfo.value, FileNotFoundError)
    assert isinstance(excinfo.value, AuthConfigError)


def test_comments_blank_lines_and_crlf_are_accepted(path: Path) -> None:
    path.write_text(f"# users\n\n   \n  # indented comment\r\nalice:{SAMPLE_HASH}\r\nbob:{SAMPLE_HASH}  \n")
    users = PasswordFile.open_existing(path)
    assert users.usernames() == ["alice", "bob"]
    assert users.verify("alice", b"x")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("alice", "expected 'username:hash', found no ':'"),
        (f":{SAMPLE_HASH}", "empty username"),
        ("alice:", "empty password hash for user 'alice'"),
        ("alice:plaintext-password", "password hash for user 'alice' is not an argon2 hash"),
        (f"bob:{SAMPLE_HASH}", "duplicate user 'bob' (first defined on line 2)"),
    ],
)
def test_malformed_line_reports_path_line_and_problem(path: Path, line: str, problem: str) -> None:
    path.write_text(f"# comment\nbob:{SAMPLE_HASH}\n\n{line}\n")
    with pytest.raises(AuthConfigError) as excinfo:
        PasswordFile(path).load()
    assert str(excinfo.value) == f"{path}:4: {problem}"


def test_invalid_utf8_is_a_config_error(path: Path) -> None:
    path.write_bytes(b"al\xffce:" + SAMPLE_HASH.encode() + b"\n")
    with pytest.raises(AuthConfigError, match="not valid UTF-8"):
        PasswordFile(path).load()


@pytest.mark.parametrize(
    ("username", "problem"),
    [("", "must not be empty"), ("a:b", "must not contain ':'"), ("a\nb", "newline"), ("# x", "start with '#'")],
)
def test_add_rejects_usernames_the_file_cannot_hold(path: Path, username: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        PasswordFile(path).add(username, "pw")


def test_unusual_usernames_round_trip(path: Path) -> None:
    names = [" leading space", "trailing space ", "ünïcödé", "a#b", "with\u2028separator"]
    users = PasswordFile(path)
    for name in names:
        users.add(name, "pw")
    users.save()
    assert PasswordFile.open_existing(path).usernames() == sorted(names)


def test_reloads_after_another_instance_writes(path: Path, clock: FakeClock) -> None:
    broker_view = PasswordFile(path)
    assert not broker_view.verify("alice", b"pw")

    cli = PasswordFile(path)
    cli.add("alice", "pw")
    cli.save()

    clock.now += 0.5
    assert not broker_view.verify("alice", b"pw"), "the file is checked at most once per second"
    clock.now += 0.6
    assert broker_view.verify("alice", b"pw")

    cli.remove("alice")
    cli.save()
    clock.now += 1.1
    assert not broker_view.verify("alice", b"pw")
    assert broker_view.usernames() == []


def test_reload_picks_up_a_deleted_file(path: Path, clock: FakeClock) -> None:
    users = PasswordFile(path)
    users.add("alice", "pw")
    users.save()
    path.unlink()
    clock.now += 1.1
    assert users.usernames() == []


def test_unsaved_edits_are_not_dropped_by_a_reload(path: Path, clock: FakeClock) -> None:
    cli = PasswordFile(path)
    cli.add("alice", "pw")

    other = PasswordFile(path)
    other.add("bob", "pw")
    other.save()
    clock.now += 1.1

    assert cli.usernames() == ["alice"]


def test_broken_file_on_reload_keeps_previous_users(path: Path, clock: FakeClock) -> None:
    users = PasswordFile(path)
    users.add("alice", "pw")
    users.save()

    path.write_text("this line is broken\n")
    clock.now += 1.1
    assert users.verify("alice", b"pw"), "a bad edit must not lock everybody out"

    path.write_text(f"bob:{SAMPLE_HASH}\n")
    clock.now += 1.1
    assert users.verify("bob", b"x")
    assert not users.verify("alice", b"pw")
