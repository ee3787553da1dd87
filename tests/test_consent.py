"""Consent evidence: append-only events, versioned statements, a hash chain, configurable IPs."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from newsletter import consent, evidence, subscribers
from newsletter.extensions import db
from newsletter.models import ConsentEvent, ConsentText
from tests.support.flows import sign_up_and_confirm
from tests.support.visitor import Visitor, carry_out_requests, hidden_fields


def test_every_wording_is_kept_as_a_version_with_its_sha256(app, client):
    client.get("/")
    client.get("/", headers={"Accept-Language": "en"})
    client.get("/")
    with app.app_context():
        versions = db.session.execute(select(ConsentText).order_by(ConsentText.id)).scalars().all()
        assert [v.language for v in versions] == ["de", "en"]
        for version in versions:
            assert version.sha256 == hashlib.sha256(version.text.encode()).hexdigest()


def test_export_has_the_spec_shape(app, visitor, outbox, runner, clock):
    sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    result = runner.invoke(args=["export-subscriber", "Ann@Example.org"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["email"] == "ann@example.org" and data["status"] == "confirmed"
    requested, confirmed = data["events"]
    assert requested["type"] == "requested" and requested["channel"] == "form"
    assert confirmed["type"] == "confirmed" and confirmed["channel"] == "link"
    assert requested["at"] == clock.now().isoformat() and requested["at"].endswith("+00:00")
    for event in (requested, confirmed):
        assert event["ip"] == "127.0.0.1" and event["user_agent"] == "Mozilla/5.0 (pytest)"
        assert event["consent_text"]["language"] == "de"
        assert len(event["consent_text"]["sha256"]) == 64


def test_unknown_address_exits_1_with_a_message(runner):
    result = runner.invoke(args=["export-subscriber", "nobody@example.org"])
    assert result.exit_code == 1
    assert "no subscriber with the address nobody@example.org" in result.output


def test_invalid_address_is_a_usage_error(runner):
    result = runner.invoke(args=["export-subscriber", "not an address"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("mode", "expected"), [("full", "203.0.113.77"), ("truncated", "203.0.113.0"), ("none", None)]
)
def test_evidence_ip_is_kept_as_configured(app, client, mode, expected):
    app.config["EVIDENCE_IP"] = mode
    visitor = Visitor(client)
    page = client.get("/subscribe", environ_base={"REMOTE_ADDR": "203.0.113.77"})
    client.post(
        "/subscribe",
        data={**hidden_fields(page.get_data(as_text=True)), "email": "ann@example.org"},
        environ_base={"REMOTE_ADDR": "203.0.113.77"},
        headers=visitor.headers,
    )
    carry_out_requests(app)
    with app.app_context():
        event = db.session.execute(select(ConsentEvent)).scalar_one()
        assert event.ip == expected


def test_truncated_ipv6_keeps_the_48_prefix(app):
    app.config["EVIDENCE_IP"] = "truncated"
    with app.app_context():
        assert consent.evidence_ip("2001:db8:abcd:12::1") == "2001:db8:abcd::"
        assert consent.evidence_ip("not-an-ip") is None


def test_events_are_hash_chained(app, visitor, outbox):
    sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    with app.app_context():
        subscriber = subscribers.find_by_email("ann@example.org")
        subscribers.withdraw(subscriber, "link")
        db.session.commit()
        events = consent.history(subscriber)
        assert [e.type for e in events] == ["requested", "confirmed", "withdrawn"]
        assert events[0].prev_hash == ""
        for previous, event in zip(events, events[1:], strict=False):
            assert event.prev_hash == previous.hash
        for event in events:
            assert event.hash == evidence.content_hash(event)
            assert event.personal_digest == evidence.personal_digest(event)
        events[1].ip = "198.51.100.1"  # tampering with a recorded fact shows
        assert evidence.personal_digest(events[1]) != events[1].personal_digest
        db.session.rollback()


def test_withdrawal_records_no_ip_or_user_agent(app, visitor, outbox):
    sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    with app.app_context():
        subscriber = subscribers.find_by_email("ann@example.org")
        assert subscribers.withdraw(subscriber, "link") is True
        assert subscribers.withdraw(subscriber, "link") is False  # recorded once
        db.session.commit()
        withdrawn = consent.history(subscriber)[-1]
        assert withdrawn.ip is None and withdrawn.user_agent is None
        assert "ip" not in consent.event_as_dict(withdrawn)


def test_recorded_events_cannot_be_changed_or_deleted(app, visitor, outbox):
    sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    with app.app_context():
        event = consent.history(subscribers.find_by_email("ann@example.org"))[0]
        event.channel = "admin"
        with pytest.raises(consent.AppendOnlyError):
            db.session.flush()
        db.session.rollback()
        event = consent.history(subscribers.find_by_email("ann@example.org"))[0]
        db.session.delete(event)
        with pytest.raises(consent.AppendOnlyError):
            db.session.flush()
        db.session.rollback()


def test_scrubbing_personal_columns_keeps_the_chain_verifiable(app, visitor, outbox):
    sign_up_and_confirm(app, visitor, outbox, "ann@example.org")
    with app.app_context():
        events = consent.history(subscribers.find_by_email("ann@example.org"))
        hashes = [e.hash for e in events]
        for event in events:
            consent.scrub_personal(event)
        db.session.commit()
        events = consent.history(subscribers.find_by_email("ann@example.org"))
        assert all(e.ip is None and e.user_agent is None and e.personal_salt is None for e in events)
        assert [evidence.content_hash(e) for e in events] == hashes
