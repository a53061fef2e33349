"""Run the ``hookmq`` command as a real subprocess against a running node, as a user's shell would."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import ROOT, BrokerThread, api_authorization

Result = subprocess.CompletedProcess[str]


def api_key(node: BrokerThread) -> str:
    """``KEY:SECRET`` of a fresh API key of the node (the form ``--api-key`` and ``HOOKMQ_API_KEY`` take)."""
    return base64.b64decode(api_authorization(node.settings.data_dir).split()[1]).decode()


@dataclass
class Cli:
    """``hookmq`` with ``HOOKMQ_URL`` set to one node and its own ``XDG_CONFIG_HOME`` (saved logins)."""

    url: str
    config_home: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, node: BrokerThread, tmp_path: Path, *, key: bool = True) -> Cli:
        """With an API key in ``HOOKMQ_API_KEY`` unless ``key`` is False (then: a saved login, or nothing)."""
        cli = cls(f"http://127.0.0.1:{node.http_port}", tmp_path / "config")
        if key:
            cli.env["HOOKMQ_API_KEY"] = api_key(node)
        return cli

    def run(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
        environ = {k: v for k, v in os.environ.items() if k not in ("HOOKMQ_API_KEY", "HOOKMQ_TOKEN")}
        environ.update({"HOOKMQ_URL": self.url, "XDG_CONFIG_HOME": str(self.config_home), **self.env, **(env or {})})
        # A new session has no controlling terminal, so a password prompt reads stdin instead of /dev/tty.
        result = subprocess.run([sys.executable, "-m", "hookmq", *args], input=stdin, capture_output=True, text=True,
                                timeout=60, cwd=ROOT, env=environ, start_new_session=True,
                                stdin=None if stdin is not None else subprocess.DEVNULL)
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def __call__(self, *args: str, code: int = 0, stdin: str | None = None,
                 env: dict[str, str] | None = None) -> Result:
        """Run and assert the exit status."""
        result = self.run(*args, stdin=stdin, env=env)
        assert result.returncode == code, (args, result.returncode, result.stdout, result.stderr)
        return result

    def ok(self, *args: str, **kw: Any) -> str:
        return self(*args, **kw).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def fails(self, *args: str, code: int = 1, words: Iterable[str] = (), **kw: Any) -> str:
        """Run, expect ``code`` and an error on stderr naming every one of ``words``."""
        result = self(*args, code=code, **kw)
        for word in words:
            assert word in result.stderr, (args, word, result.stderr)
        return result.stderr

    def many(self, *calls: Sequence[str]) -> list[Result]:
        """Run independent commands at once (each one is a process start)."""
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda args: self.run(*args), calls))
