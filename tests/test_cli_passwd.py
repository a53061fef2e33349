"""`hookmq passwd`: set the dashboard admin's password offline, also while the node runs."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.helpers import ROOT, BrokerThread


def passwd(data_dir: Path, password: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "hookmq", "passwd", "--data-dir", str(data_dir), "--password-stdin"],
                          input=password + "\n", capture_output=True, text=True, cwd=ROOT, env=env, timeout=30)


def login(port: int, password: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/login", method="POST",
                                     data=json.dumps({"username": "admin", "password": password}).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_passwd_sets_the_password_a_running_node_accepts(start_broker: Callable[..., BrokerThread],
                                                          tmp_path: Path) -> None:
    data = tmp_path / "node"
    node = start_broker(data)
    assert login(node.http_port, "public")[1]["password_change_required"] is True

    refused = passwd(data, "short")
    assert refused.returncode != 0 and "at least 8 characters" in refused.stderr
    assert passwd(data, "public").returncode != 0

    done = passwd(data, "forgotten-and-reset")
    assert done.returncode == 0, done.stderr
    status, body = login(node.http_port, "forgotten-and-reset")
    assert status == 200 and body["password_change_required"] is False
    assert login(node.http_port, "public")[0] == 401
