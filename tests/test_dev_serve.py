"""``python3 dev.py serve --port N`` (issue 15 point 6): BASE_URL follows the port, and the
start says where the mails land and where the admin area is. The last test runs what it plans
as a real ``flask run`` process and signs up over HTTP: the confirmation mail in the outbox
links to that port."""

from __future__ import annotations

import email
import email.policy
import http.cookiejar
import os
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import dev
from tests.support.visitor import hidden_fields
from tests.support.waiting import wait_until

ROOT = Path(dev.__file__).resolve().parent


def test_base_url_follows_the_port_and_the_start_says_where_mails_and_admin_are():
    args, env, banner = dev.serve_plan(["--port", "5001", "--host", "0.0.0.0"], {"PATH": "/bin"}, {})
    assert args == ["--debug", "--port", "5001", "--host", "0.0.0.0"]
    assert env == {"PATH": "/bin", "NEWSLETTER_BASE_URL": "http://127.0.0.1:5001"}
    assert banner.splitlines() == [
        "The newsletter runs at http://127.0.0.1:5001/",
        f"Mails are written to {ROOT / 'instance' / 'outbox'}/ (one .eml file per mail; nothing is sent);"
        " their links point to http://127.0.0.1:5001/",
        "The admin area is at http://127.0.0.1:5001/admin/"
        " (an account: .venv/bin/flask --app wsgi create-admin you@example.org)",
    ]
    assert dev.serve_plan([], {}, {})[1]["NEWSLETTER_BASE_URL"] == "http://127.0.0.1:5000"
    assert dev.serve_plan(["--port=8080"], {}, {})[0] == ["--debug", "--port", "8080"]

    # A BASE_URL of the operator's (environment or instance/config.py) stays, and the start says so.
    _args, env, banner = dev.serve_plan(["-p", "5002"], {"NEWSLETTER_BASE_URL": "https://news.example.de"}, {})
    assert env["NEWSLETTER_BASE_URL"] == "https://news.example.de"
    assert "BASE_URL is set to https://news.example.de, so the links in mails do not point to this server" in banner
    _args, env, banner = dev.serve_plan(
        [], {}, {"BASE_URL": "http://127.0.0.1:5000", "MAIL_BACKEND": "smtp", "MAIL_SERVER": "mail.example.de"}
    )
    assert "NEWSLETTER_BASE_URL" not in env
    assert "Mails are sent through the relay at mail.example.de (MAIL_BACKEND=smtp)" in banner


@pytest.mark.parametrize("port", ["", "abc", "0", "70000"])
def test_an_unusable_port_is_refused_clearly(port):
    with pytest.raises(SystemExit, match="--port needs a number from 1 to 65535"):
        dev.serve_plan(["--port", port], {}, {})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_mails_of_the_server_it_starts_link_to_its_port(tmp_path):
    port = free_port()
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("NEWSLETTER_", "FLASK_"))}
    environ.update(  # the folder dev.py would give its own secret (instance/config.py) is the test's
        NEWSLETTER_INSTANCE_PATH=str(tmp_path), NEWSLETTER_SECRET_KEY="t" * 64, NEWSLETTER_SEND_INTERVAL_SECONDS="0.2"
    )
    args, env, banner = dev.serve_plan(["--port", str(port)], environ, {})
    assert f"written to {tmp_path / 'outbox'}/" in banner
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [*flask, "run", *args, "--no-reload"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        wait_until(lambda: _answers(browser, base), timeout=60, what="the server to answer")
        form = hidden_fields(browser.open(f"{base}/subscribe", timeout=10).read().decode())
        body = urllib.parse.urlencode({**form, "email": "leserin@example.org"}).encode()
        browser.open(urllib.request.Request(f"{base}/subscribe", data=body), timeout=10)
        outbox = tmp_path / "outbox"
        wait_until(lambda: any(outbox.glob("*.eml")), timeout=60, what="the confirmation mail")
        (mail,) = outbox.glob("*.eml")  # a mail being written is a hidden .part file
        message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
        text = message.get_body(("plain",)).get_content()
        assert f"{base}/confirm/" in text
        assert "127.0.0.1:5000" not in text
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(browser, base: str) -> bool:
    try:
        return browser.open(f"{base}/subscribe", timeout=5).status == 200
    except OSError:
        return False
