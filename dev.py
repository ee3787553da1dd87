#!/usr/bin/env python3
"""Set-up and everyday commands for a fresh machine that has only python3.

    python3 dev.py serve     create .venv, install, migrate, run at http://127.0.0.1:5000
    python3 dev.py test      create .venv, install with test extras, run the whole test suite
    python3 dev.py babel     extract, update and compile the translations

Only the standard library is used here; everything else goes into .venv.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def _run(*args: str | os.PathLike, **kwargs) -> None:
    completed = subprocess.run([str(a) for a in args], cwd=ROOT, **kwargs)
    if completed.returncode:
        sys.exit(completed.returncode)


def ensure_venv(extras: str) -> None:
    """Create .venv and install the project; reinstall only when pyproject.toml changed."""
    if not PYTHON.exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras or 'base'}"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print(f"installing the project{' with ' + extras if extras else ''} into .venv …", flush=True)
    _run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(PYTHON, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]" if extras else ".")
    stamp.write_text(wanted)


def ensure_local_secret() -> None:
    """Give this checkout its own random SECRET_KEY in instance/config.py (gitignored)."""
    config = ROOT / "instance" / "config.py"
    if not config.exists():
        config.parent.mkdir(exist_ok=True)
        config.write_text(f"SECRET_KEY = {secrets.token_hex(32)!r}\n")


def serve(args: list[str]) -> None:
    ensure_venv("")
    ensure_local_secret()
    flask = BIN / "flask"
    _run(flask, "--app", "wsgi", "db", "upgrade")
    os.execv(str(flask), [str(flask), "--app", "wsgi", "run", "--debug", "--port", "5000", *args])


def test(args: list[str]) -> None:
    ensure_venv("test")
    os.execv(str(PYTHON), [str(PYTHON), "-m", "pytest", *args])


def babel(_args: list[str]) -> None:
    ensure_venv("")
    pybabel = BIN / "pybabel"
    catalog = ROOT / "newsletter" / "translations"
    pot = catalog / "messages.pot"
    _run(pybabel, "extract", "-F", "babel.cfg", "-k", "_l", "--no-location", "--sort-output", "-o", pot, ".")
    _run(pybabel, "update", "-i", pot, "-d", catalog, "--no-fuzzy-matching", "--ignore-obsolete")
    _run(pybabel, "compile", "-d", catalog)


COMMANDS = {"serve": serve, "test": test, "babel": babel}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
