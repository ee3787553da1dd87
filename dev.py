#!/usr/bin/env python3
"""Set-up and everyday commands for a fresh machine that has only python3.

    python3 dev.py serve     create .venv, install, migrate, run at http://127.0.0.1:5000
                             (--port N: elsewhere; the links in mails follow it)
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
from collections.abc import Mapping
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
    run_args, env, banner = serve_plan(args, os.environ, _instance_config())
    _run(flask, "--app", "wsgi", "db", "upgrade", env=env)
    print(banner, flush=True)
    os.execve(str(flask), [str(flask), "--app", "wsgi", "run", *run_args], env)


def serve_plan(args: list[str], environ: Mapping[str, str], instance_config: Mapping[str, object]):
    """What ``serve`` runs: (the arguments of ``flask run``, its environment, what to print).

    The port comes from ``--port N`` / ``-p N`` (default 5000); BASE_URL follows it unless the
    environment or instance/config.py sets one (then the mails link where that says).
    """
    rest, port = _port_option(args)
    env = dict(environ)
    given = env.get("NEWSLETTER_BASE_URL") or instance_config.get("BASE_URL")
    local = f"http://127.0.0.1:{port}"
    if not given:
        env["NEWSLETTER_BASE_URL"] = local
    base_url = str(given or local).rstrip("/")
    backend = env.get("NEWSLETTER_MAIL_BACKEND") or instance_config.get("MAIL_BACKEND") or "file"
    instance = Path(env.get("NEWSLETTER_INSTANCE_PATH") or ROOT / "instance")
    if backend == "smtp":
        server = env.get("NEWSLETTER_MAIL_SERVER") or instance_config.get("MAIL_SERVER") or "localhost"
        mails = f"sent through the relay at {server} (MAIL_BACKEND=smtp)"
    else:
        mails = f"written to {instance / 'outbox'}{os.sep} (one .eml file per mail; nothing is sent)"
    lines = [
        f"The newsletter runs at {local}/",
        f"Mails are {mails}; their links point to {base_url}/",
        f"The admin area is at {local}/admin/ (an account: .venv/bin/flask --app wsgi create-admin you@example.org)",
    ]
    if given and base_url != local:
        lines.append(f"BASE_URL is set to {base_url}, so the links in mails do not point to this server")
    return ["--debug", "--port", str(port), *rest], env, "\n".join(lines)


def _port_option(args: list[str]) -> tuple[list[str], int]:
    """``args`` without ``--port N`` / ``-p N`` / ``--port=N``, and that port (default 5000)."""
    rest, port = [], "5000"
    items = iter(args)
    for item in items:
        if item in ("--port", "-p"):
            port = next(items, "")
        elif item.startswith("--port="):
            port = item.partition("=")[2]
        else:
            rest.append(item)
    if not port.isdigit() or not 0 < int(port) < 65536:
        sys.exit(f"dev.py serve: --port needs a number from 1 to 65535, got {port!r}")
    return rest, int(port)


def _instance_config() -> dict[str, object]:
    """The settings in instance/config.py (the checkout's own), read as the app reads them."""
    path = ROOT / "instance" / "config.py"
    namespace: dict[str, object] = {}
    if path.exists():
        exec(compile(path.read_text(), str(path), "exec"), namespace)  # our own settings file
    return {key: value for key, value in namespace.items() if key.isupper()}


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
