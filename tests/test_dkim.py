"""DKIM (issue 17 point 4): every mail signed rsa-sha256 relaxed/relaxed with the unsubscribe
headers covered; dkimpy verifies what a real SMTP server received against the record
``flask dkim-record`` prints, and fails once List-Unsubscribe-Post is altered. The start
refuses an unreadable or weak key with a clear message."""

from __future__ import annotations

import dkim
import pytest

from newsletter import create_app
from newsletter.settings import ConfigError
from tests.support.flows import drain, queue_digest
from tests.support.keys import rsa_key_file, txt_record
from tests.support.processes import flask_process

REQUIRED = {b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe", b"list-unsubscribe-post"}


@pytest.fixture
def dkim_app(smtp_config, tmp_path, request):
    smtp_config.update(
        DKIM_DOMAIN="example.org", DKIM_SELECTOR="news2026", DKIM_PRIVATE_KEY_FILE=rsa_key_file(tmp_path)
    )
    return request.getfixturevalue("app")


def published(app):
    """dkimpy's DNS lookup, answered with the record ``flask dkim-record`` prints."""
    result = app.test_cli_runner().invoke(args=["dkim-record"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("news2026._domainkey.example.org. IN TXT")
    record = txt_record(result.output)
    assert record.startswith(b"v=DKIM1; k=rsa; p=")

    def lookup(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        return record if name.rstrip(".") == "news2026._domainkey.example.org" else None

    return lookup


def test_a_signed_digest_verifies_and_fails_once_list_unsubscribe_post_is_altered(dkim_app, smtp_server):
    queue_digest(dkim_app, 1)
    drain(dkim_app)
    [raw] = smtp_server.handler.raw
    lookup = published(dkim_app)
    assert dkim.verify(raw, dnsfunc=lookup)
    tags = dkim.util.parse_tag_value(raw.split(b"DKIM-Signature:", 1)[1].split(b"\r\nFrom:", 1)[0])
    assert tags[b"a"] == b"rsa-sha256" and tags[b"c"] == b"relaxed/relaxed" and tags[b"d"] == b"example.org"
    assert REQUIRED <= {name.strip() for name in tags[b"h"].split(b":")}
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    altered = raw.replace(b"List-Unsubscribe=One-Click", b"List-Unsubscribe=Two-Click")
    assert not dkim.verify(altered, dnsfunc=lookup)
    assert not dkim.verify(raw.replace(b"\r\n\r\n--", b"\r\n\r\nX--", 1), dnsfunc=lookup)  # the body too


def test_a_mail_without_unsubscribe_headers_cannot_be_given_them(dkim_app, smtp_server, visitor):
    visitor.sign_up("anna@example.org")
    drain(dkim_app)
    [raw] = smtp_server.handler.raw  # the confirmation request
    lookup = published(dkim_app)
    assert dkim.verify(raw, dnsfunc=lookup)
    added = b"List-Unsubscribe: <https://evil.example/u>\r\n" + raw
    assert not dkim.verify(added, dnsfunc=lookup)


@pytest.mark.parametrize(
    "bits_or_file, message",
    [
        (1024, "1024-bit RSA key; at least 2048"),
        ("missing.pem", "cannot be read"),
        ("not-a-key.pem", "no unencrypted PEM private key"),
    ],
)
def test_the_start_refuses_an_unusable_key(config, tmp_path, bits_or_file, message):
    if isinstance(bits_or_file, int):
        path = rsa_key_file(tmp_path, bits_or_file)
    else:
        path = str(tmp_path / bits_or_file)
        if bits_or_file == "not-a-key.pem":
            (tmp_path / bits_or_file).write_text("hello")
    config.update(DKIM_DOMAIN="example.org", DKIM_SELECTOR="s", DKIM_PRIVATE_KEY_FILE=path)
    with pytest.raises(ConfigError, match=message) as refused:
        create_app(config, instance_path=str(tmp_path / "instance"))
    assert "DKIM_PRIVATE_KEY_FILE" in str(refused.value)


def test_dkim_needs_all_three_settings(config, tmp_path):
    config.update(DKIM_DOMAIN="example.org")
    with pytest.raises(ConfigError, match="DKIM_SELECTOR, DKIM_PRIVATE_KEY_FILE not set"):
        create_app(config, instance_path=str(tmp_path / "instance"))


def test_the_worker_does_not_start_with_a_weak_key(app, tmp_path):
    process = flask_process(
        app, 25, "worker",
        DKIM_DOMAIN="example.org", DKIM_SELECTOR="s", DKIM_PRIVATE_KEY_FILE=rsa_key_file(tmp_path, 1024),
    )
    with process:
        output = process.finish()
    assert process.returncode == 1
    assert "configuration error: DKIM_PRIVATE_KEY_FILE" in output and "at least 2048 bits" in output
    assert "Traceback" not in output
