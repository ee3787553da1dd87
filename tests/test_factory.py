"""The app factory: configuration layers, typed environment, and the SECRET_KEY guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter import create_app
from newsletter.settings import ConfigError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("NEWSLETTER_") or key == "FLASK_DEBUG":
            monkeypatch.delenv(key)
    return monkeypatch


def test_defaults_cover_every_spec_key(clean_env, tmp_path):
    app = create_app({"TESTING": True}, instance_path=str(tmp_path))
    expected = {
        "SECRET_KEY": "dev-insecure-change-me", "BASE_URL": "http://127.0.0.1:5000", "MAIL_BACKEND": "file",
        "MAIL_SERVER": "localhost", "MAIL_PORT": 25, "TIMEZONE": "Europe/Berlin", "DIGEST_SCHEDULE": "0 7 * * *",
        "FEED_URLS": [], "CONFIRM_MAX_AGE_DAYS": 7, "UNCONFIRMED_RETENTION_DAYS": 14, "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://", "MAIL_CONCURRENCY": 4, "MAIL_RATE_LIMIT": None,
        "SEND_LEASE_SECONDS": 60, "BOUNCE_LIMIT": 1, "EVIDENCE_IP": "full", "PREFERENCES_MAX_AGE_DAYS": 30,
        "EVIDENCE_RETENTION_DAYS": 1095, "DOI_MAX_PER_ADDRESS": 2, "EMBEDDED_WORKER": False,
    }
    for key, value in expected.items():
        assert app.config[key] == value, key
    for key in ("SITE_NAME", "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_TIMEOUT",
                "MAIL_DEFAULT_SENDER"):
        assert key in app.config
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/newsletter.db"


def test_layers_instance_file_then_environment_then_overrides(clean_env, tmp_path):
    (tmp_path / "config.py").write_text("SITE_NAME = 'From instance'\nBASE_URL = 'https://instance.example'\n"
                                        "MAIL_PORT = 2525\n")
    clean_env.setenv("NEWSLETTER_BASE_URL", "https://env.example/")
    clean_env.setenv("NEWSLETTER_MAIL_PORT", "587")
    clean_env.setenv("NEWSLETTER_FEED_URLS", '["https://a.example/feed"]')
    clean_env.setenv("NEWSLETTER_EMBEDDED_WORKER", "true")
    app = create_app({"TESTING": True, "MAIL_PORT": 465}, instance_path=str(tmp_path))
    assert app.config["SITE_NAME"] == "From instance"
    assert app.config["BASE_URL"] == "https://env.example"  # trailing slash dropped
    assert app.config["MAIL_PORT"] == 465
    assert app.config["FEED_URLS"] == ["https://a.example/feed"]
    assert app.config["EMBEDDED_WORKER"] is True


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("EMBEDDED_WORKER", "True", "EMBEDDED_WORKER must be bool"),
        ("MAIL_PORT", "twenty-five", "MAIL_PORT must be int"),
        ("MAIL_BACKEND", "pigeon", "MAIL_BACKEND must be one of smtp, file"),
        ("EVIDENCE_IP", "half", "EVIDENCE_IP must be one of full, truncated, none"),
        ("TIMEZONE", "Mars/Olympus", "TIMEZONE 'Mars/Olympus' is not a known time zone"),
        ("BASE_URL", "news.example.org", "BASE_URL must start with http"),
        ("SEND_PROCESSES", "-1", "SEND_PROCESSES must be 0 for one per CPU, or more"),
    ],
)
def test_mistyped_environment_values_are_refused_clearly(clean_env, tmp_path, key, value, message):
    clean_env.setenv(f"NEWSLETTER_{key}", value)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        create_app({"TESTING": True}, instance_path=str(tmp_path))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"MAIL_USERNAME": "news", "MAIL_SERVER": "smtp.example.org"}, "the relay connection is not encrypted"),
        ({"MAIL_USE_TLS": True, "MAIL_USE_SSL": True}, "exclude each other"),
    ],
)
def test_relay_settings_that_would_leak_or_contradict_are_refused(clean_env, tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        create_app({"TESTING": True, **settings}, instance_path=str(tmp_path))
    username = settings.get("MAIL_USERNAME")
    for allowed in ({"MAIL_USE_TLS": True}, {"MAIL_USE_SSL": True}, {"MAIL_SERVER": "localhost"}) if username else ():
        create_app({"TESTING": True, **settings, **allowed}, instance_path=str(tmp_path))


def test_refuses_the_default_secret_key_outside_debug_and_testing(clean_env, tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY is the development default"):
        create_app(instance_path=str(tmp_path))
    assert create_app({"DEBUG": True}, instance_path=str(tmp_path)).debug
    assert create_app({"SECRET_KEY": "x" * 32}, instance_path=str(tmp_path))


def test_wsgi_reports_a_bad_configuration_without_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "FLASK_"))}
    env["NEWSLETTER_INSTANCE_PATH"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "newsletter: configuration error: SECRET_KEY is the development default" in result.stderr
    assert "Traceback" not in result.stderr


def test_wsgi_exposes_the_app(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "FLASK_"))}
    env.update(NEWSLETTER_INSTANCE_PATH=str(tmp_path), NEWSLETTER_SECRET_KEY="s" * 32)
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi; print(type(wsgi.app).__name__, wsgi.app.name)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.stdout.strip() == "Flask newsletter", result.stderr


# Imported on first use only: every process (web worker, worker, each CLI command such as
# send-digest) would otherwise pay for them at start, in time and memory.
FIRST_USE_ONLY = {
    "aiosmtpd": "the bounce listener", "flufl": "reading bounce reports", "segno": "the two-factor QR code",
    "prometheus_client": "/metrics", "cryptography": "DKIM signing", "standardwebhooks": "signing webhooks",
    "flask_migrate": "flask db", "alembic": "flask db",
    # The commands are imported on first use of the CLI, the scheduler where it runs (issue 16:
    # about 5 MiB less in every web worker).
    "feedparser": "importing feeds", "charset_normalizer": "importing feeds",
    "css_inline": "rendering a mail (about 3 MiB)",
}


def test_a_started_app_has_not_imported_what_only_some_jobs_and_pages_use(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "FLASK_"))}
    env.update(NEWSLETTER_INSTANCE_PATH=str(tmp_path), NEWSLETTER_SECRET_KEY="s" * 32)
    result = subprocess.run(
        [sys.executable, "-c", "import sys, wsgi; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    loaded = set(result.stdout.split())
    assert "newsletter" in loaded, result.stderr
    assert {name: why for name, why in FIRST_USE_ONLY.items() if name in loaded} == {}


def test_garbage_collection_is_on_again_after_the_app_is_built_or_refused(clean_env, tmp_path):
    import gc

    assert gc.isenabled()
    create_app({"TESTING": True}, instance_path=str(tmp_path))
    assert gc.isenabled()
    with pytest.raises(ConfigError):
        create_app({"MAIL_PORT": "not a port"}, instance_path=str(tmp_path))
    assert gc.isenabled()
    gc.disable()
    try:
        create_app({"TESTING": True}, instance_path=str(tmp_path))
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
