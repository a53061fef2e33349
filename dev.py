#!/usr/bin/env python3
"""Set-up and everyday commands on a fresh machine with only Python 3.11+.

    python3 dev.py serve [hookmq serve options]   create .venv if needed, install hookmq, run the broker
    python3 dev.py test [pytest options]          also install test tools (and Debian's mosquitto-clients and
                                                  chromium when running as root), then ruff, import-linter,
                                                  mypy, pytest

Both are idempotent: a second run reuses .venv and reinstalls only when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
# Debian packages the end-to-end tests drive as real peers (chromium: the dashboard's browser tests).
APT_PACKAGES = {"mosquitto_pub": "mosquitto-clients", "mosquitto": "mosquitto", "chromium": "chromium"}


def run(*cmd: str | Path, **kw: object) -> None:
    subprocess.run([str(c) for c in cmd], check=True, **kw)  # type: ignore[call-overload]


def ensure_venv(extras: str) -> None:
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"installing hookmq{f'[{extras}]' if extras else ''} into .venv ...", flush=True)
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PY, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]" if extras else ".", cwd=ROOT)
    stamp.write_text(digest)


def ensure_debian_peers() -> None:
    missing = sorted({pkg for exe, pkg in APT_PACKAGES.items() if shutil.which(exe) is None})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"note: {', '.join(missing)} not installed; tests that need them will be skipped", flush=True)
        return
    print(f"installing {', '.join(missing)} with apt-get ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env, stdout=subprocess.DEVNULL)


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py itself may be started by an older python3
        sys.exit(f"hookmq needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    args = sys.argv[2:]
    if command == "serve":
        ensure_venv("")
        os.execv(BIN / "hookmq", [str(BIN / "hookmq"), "serve", *args])
    elif command == "test":
        ensure_venv("test")
        ensure_debian_peers()
        run(BIN / "ruff", "check", "src", "tests", "bench", "examples", "dev.py", cwd=ROOT)
        run(BIN / "lint-imports", cwd=ROOT)
        run(BIN / "mypy", cwd=ROOT)
        os.execv(PY, [str(PY), "-m", "pytest", *args])
    else:
        print(__doc__)
        sys.exit(0 if command in ("help", "-h", "--help") else 2)


if __name__ == "__main__":
    main()
