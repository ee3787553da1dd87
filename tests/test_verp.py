"""VERP (issue 17 point 1): with BOUNCE_ADDRESS each mail's envelope sender, as a real SMTP
server receives it, is ``local+<token>@domain``, the token naming the mail's delivery; without
it nothing changes."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.delivery import verp
from newsletter.extensions import db
from newsletter.models import Delivery, Subscriber
from tests.support.flows import drain, queue_digest

VERP_FORM = re.compile(r"bounces\+[0-9a-z]{1,13}-[a-z2-7]{16}@example\.org")


@pytest.fixture
def verp_app(smtp_config, request):
    smtp_config["BOUNCE_ADDRESS"] = "bounces@example.org"
    return request.getfixturevalue("app")


def deliveries_by_address(app) -> dict[str, int]:
    with app.app_context():
        return dict(db.session.execute(select(Subscriber.email, Delivery.id).join(Delivery.subscriber)).all())


def test_each_mail_leaves_with_a_verp_envelope_sender_naming_its_delivery(verp_app, smtp_server):
    queue_digest(verp_app, 3)
    drain(verp_app)
    envelopes = smtp_server.handler.envelopes
    assert len(envelopes) == 3
    envelope = verp.from_config(verp_app.config)
    ids = deliveries_by_address(verp_app)
    for mail_from, [recipient] in envelopes:
        assert VERP_FORM.fullmatch(mail_from), mail_from
        assert len(mail_from.partition("@")[0]) <= 64
        assert envelope.delivery_id(mail_from) == ids[recipient]
    assert len({mail_from for mail_from, _ in envelopes}) == 3
    # The From header stays the publisher's address; the relay's final delivery writes the
    # Return-Path from MAIL FROM.
    assert all(str(message["From"]).endswith("<news@example.org>") for message in smtp_server.messages)


def test_without_bounce_address_the_envelope_sender_is_the_sender(smtp_app, smtp_server):
    queue_digest(smtp_app, 2)
    drain(smtp_app)
    assert [mail_from for mail_from, _ in smtp_server.handler.envelopes] == ["news@example.org"] * 2


def test_tokens_are_short_signed_and_survive_a_change_of_case():
    envelope = verp.Verp("b@example.org", ["old key", "new key"])
    longest = envelope.address(2**63 - 1)
    assert len(longest.partition("@")[0]) == 2 + 30
    assert envelope.delivery_id(longest.upper()) == 2**63 - 1
    signed_by_old = verp.Verp("b@example.org", ["old key"]).address(7)
    assert envelope.delivery_id(signed_by_old) == 7  # SECRET_KEY_FALLBACKS still verify
    assert verp.Verp("b@example.org", ["another key"]).delivery_id(envelope.address(7)) is None
    assert envelope.delivery_id("b+7-aaaaaaaaaaaaaaaa@example.org") is None
    assert envelope.delivery_id(envelope.address(7).replace("@example.org", "@elsewhere.org")) is None


@pytest.mark.parametrize(
    "address",
    ["bounces", "a@b@example.org", "bounces+x@example.org", "b ounces@example.org", "x" * 34 + "@example.org"],
)
def test_an_unusable_bounce_address_is_refused_at_start(address):
    assert verp.address_problem(address) is not None
    assert verp.address_problem("x" * 33 + "@example.org") is None


@pytest.mark.parametrize("backend", ["memory", "file"])
def test_the_last_stop_writes_the_verp_address_as_return_path(config, request, backend):
    """The outbox folder and memory are the final delivery: they write the Return-Path a
    mailbox would get (RFC 5321 §4.4) from the envelope sender."""
    config.update(BOUNCE_ADDRESS="bounces@example.org", MAIL_BACKEND=backend)
    app = request.getfixturevalue("app")
    queue_digest(app, 1)
    drain(app)
    if backend == "memory":
        [message] = app.extensions["mail_memory_outbox"]
    else:
        [path] = (Path(app.instance_path) / "outbox").glob("*.eml")
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
    [delivery_id] = deliveries_by_address(app).values()
    assert message["Return-Path"] == f"<{verp.from_config(app.config).address(delivery_id)}>"
