"""``flask --app wsgi COMMAND`` in a process of its own, on the test's database and relay.

Such a process runs on the wall clock (it cannot take the test's clock), so the tests wait
for what it does, never for time to pass: for the relay to receive mail, for a line of its
output, or for it to end. Timeouts only keep a broken test from hanging.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parents[2]


class FlaskProcess:
    """A running ``flask`` command whose output (stdout and stderr) is collected as it comes."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        """Not started yet: ``with`` starts it, and ends it at the latest when the block ends."""
        self.command = command
        self._env = env
        self._popen: subprocess.Popen | None = None
        self._lines: list[str] = []
        self._ended = False
        self._output = threading.Condition()
        self._reader = threading.Thread(target=self._read, name=f"flask {command} output", daemon=True)

    def __enter__(self) -> FlaskProcess:
        self._popen = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", self.command],
            cwd=ROOT, env=self._env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._reader.start()
        return self

    def __exit__(self, *_exc) -> None:
        """Never leave it running, whatever happened in the test."""
        if self._popen.poll() is None:
            self.kill()
        self.finish()
        self._popen.stdout.close()

    def _read(self) -> None:
        for line in self._popen.stdout:
            with self._output:
                self._lines.append(line)
                self._output.notify_all()
        with self._output:
            self._ended = True
            self._output.notify_all()

    @property
    def output(self) -> str:
        with self._output:
            return "".join(self._lines)

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        """Block until a line containing ``text`` has come out."""
        with self._output:
            self._output.wait_for(lambda: self._ended or any(text in line for line in self._lines), timeout)
        assert text in self.output, f"flask {self.command} did not say {text!r}:\n{self.output}"

    def kill(self) -> None:
        """SIGKILL: the process ends at once, whatever it was doing (safe from any thread)."""
        self._popen.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM: the process's own way of stopping."""
        self._popen.send_signal(signal.SIGTERM)

    def finish(self, timeout: float = 120) -> str:
        """Wait for the process to end; all it said."""
        self._popen.wait(timeout)
        self._reader.join(timeout)
        return self.output


def flask_process(app: Flask, smtp_port: int, command: str, **settings) -> FlaskProcess:
    """``flask --app wsgi COMMAND`` with ``app``'s database, secret and instance folder, sending
    to the relay on ``smtp_port``; ``settings`` are more NEWSLETTER_* values. Start it with
    ``with``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "FLASK_"))}
    env.update(
        NEWSLETTER_SECRET_KEY=app.config["SECRET_KEY"],
        NEWSLETTER_SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        NEWSLETTER_INSTANCE_PATH=app.instance_path,
        NEWSLETTER_MAIL_BACKEND="smtp",
        NEWSLETTER_MAIL_SERVER="127.0.0.1",
        NEWSLETTER_MAIL_PORT=str(smtp_port),
        NEWSLETTER_MAIL_CONCURRENCY="4",
        NEWSLETTER_SEND_INTERVAL_SECONDS="0.2",
        NEWSLETTER_BASE_URL=app.config["BASE_URL"],
        # no digest of its own: the worker only sends what the test queued
        NEWSLETTER_DIGEST_SCHEDULE="0 0 1 1 *",
        **{f"NEWSLETTER_{key}": str(value) for key, value in settings.items()},
    )
    return FlaskProcess(command, env)
