"""Webhooks (SPEC §9, issue 18 point 3): each event written in the transaction of the change
that causes it, POSTed by the worker to a real HTTP server on loopback and verified there with
the standardwebhooks library; retries on the clock's backoff; endpoints that fail for days
disabled; the feed fetcher's SSRF rules when a URL is added and again at delivery; nothing
sent on a web request's path."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
import standardwebhooks
from sqlalchemy import select

from newsletter.delivery import bounces
from newsletter.extensions import db
from newsletter.models import BounceKind, Webhook, WebhookMessage, WebhookStatus
from newsletter.webhooks import endpoints, events, sending
from tests.support import factories
from tests.support.api import ApiClient, create_token
from tests.support.flows import drain, subscriber_id
from tests.support.httpserver import Response
from tests.support.visitor import confirm_link


def _add(app, url: str, chosen=events.EVENTS) -> SimpleNamespace:
    """A webhook added for ``chosen``: its id and secret."""
    with app.app_context():
        webhook = endpoints.add(url, chosen)
        db.session.commit()
        return SimpleNamespace(id=webhook.id, secret=webhook.secret)


def _deliver(app) -> int:
    with app.app_context():
        return sending.deliver_due()


def _messages(app) -> list[WebhookMessage]:
    with app.app_context():
        found = list(db.session.scalars(select(WebhookMessage).order_by(WebhookMessage.id)))
        db.session.expunge_all()
        return found


def _received(server, secret: str) -> list[dict]:
    """The payloads the receiver got, each verified as Standard Webhooks says."""
    verifier = standardwebhooks.Webhook(secret)
    return [verifier.verify(request.body, request.headers) for request in server.requests]


def _headers(request) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


@pytest.fixture
def writer(app, client) -> ApiClient:
    return ApiClient(client, create_token(app, "crm", "write"))


def test_add_webhook_prints_a_secret_and_refuses_urls_it_may_not_reach(app, runner, http_server):
    url = http_server.url("/hook")
    added = runner.invoke(args=["add-webhook", url, "--event", "subscriber.confirmed", "--event", "digest.sent"])
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    with app.app_context():
        webhook = db.session.scalar(select(Webhook))
        assert (webhook.url, webhook.events, webhook.secret) == (url, ["subscriber.confirmed", "digest.sent"], secret)
    for bad, expected in (
        ([url, "--event", "subscriber.gone"], "subscriber.gone"),
        (["ftp://example.org/x", "--event", "digest.sent"], "http or https"),
        (["https://user:pw@example.org/x", "--event", "digest.sent"], "password"),
        (["https://nowhere.invalid/x", "--event", "digest.sent"], "cannot be found"),
        ([url],  "--event"),
    ):
        refused = runner.invoke(args=["add-webhook", *bad])
        assert refused.exit_code != 0 and expected in refused.output, (bad, refused.output)
    app.config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"] = False
    for private in (url, "http://10.1.2.3/hook", "http://[::1]:8080/hook", "http://169.254.169.254/latest"):
        refused = runner.invoke(args=["add-webhook", private, "--event", "digest.sent"])
        assert refused.exit_code != 0 and "WEBHOOK_ALLOW_PRIVATE_NETWORKS" in refused.output, private


def test_every_event_is_queued_with_its_change_and_delivered_signed_by_the_worker(
    app, client, visitor, outbox, http_server, writer
):
    app.config["BOUNCE_LIMIT"] = 1
    webhook = _add(app, http_server.serve("/hook"))
    visitor.sign_up("ann@example.org")
    assert [m.type for m in _messages(app)] == ["subscriber.requested"]
    assert http_server.requests == []  # written down only: the worker sends
    drain(app)
    visitor.confirm(confirm_link(outbox[-1]))
    writer.post("/api/v1/subscribers", json={"email": "ben@example.org", "consent": {
        "consented_at": "2026-01-01T10:00", "confirmed_at": "2026-01-01T10:01"}})
    ann = subscriber_id(app, "ann@example.org")
    with app.app_context():
        factories.add_article("Neu")
        db.session.commit()
    writer.post("/api/v1/digests", json={})
    ben = subscriber_id(app, "ben@example.org")
    with app.app_context():
        bounces.record(ben, db.session.connection(), BounceKind.HARD, status="5.1.1")
        db.session.commit()
    writer.post("/api/v1/subscribers/ann@example.org/withdraw")
    writer.delete("/api/v1/subscribers/ann@example.org")
    assert http_server.requests == []
    assert _deliver(app) == 8
    payloads = _received(http_server, webhook.secret)
    assert [payload["type"] for payload in payloads] == [
        "subscriber.requested", "subscriber.confirmed", "subscriber.confirmed", "digest.sent",
        "subscriber.bounced", "subscriber.suspended", "subscriber.withdrawn", "subscriber.erased",
    ]
    requested, confirmed, imported, digest, bounced, suspended, withdrawn, erased = (p["data"] for p in payloads)
    assert requested == {"id": ann, "email": None}  # the erasure scrubbed what was still to be sent
    assert confirmed == {"id": ann, "email": None}
    assert (imported["email"], imported["status"]) == ("ben@example.org", "confirmed")
    assert (digest["recipients"], digest["articles"]) == (2, 1)
    assert (bounced["kind"], bounced["bounce_status"], suspended["status"]) == ("hard", "5.1.1", "suspended")
    assert withdrawn == {"id": ann, "email": None}
    assert erased == {"id": ann, "email": None, "status": "erased"}
    first = _headers(http_server.requests[0])
    assert first["content-type"] == "application/json" and first["webhook-id"].startswith("msg_")
    assert json.loads(http_server.requests[0].body)["timestamp"]
    assert [message.status for message in _messages(app)] == [WebhookStatus.DELIVERED] * 8
    assert _deliver(app) == 0


def test_only_the_events_asked_for_and_a_test_event_for_the_one_tested(app, visitor, http_server):
    confirmed_only = _add(app, http_server.serve("/confirmed"), ["subscriber.confirmed"])
    visitor.sign_up("cy@example.org")
    assert _messages(app) == []
    with app.app_context():
        events.queue_test(db.session.get(Webhook, confirmed_only.id))
        db.session.commit()
    _deliver(app)
    assert [p["type"] for p in _received(http_server, confirmed_only.secret)] == ["webhook.test"]


def test_a_receiver_answering_500_twice_then_200_gets_the_event_exactly_once_more(app, clock, http_server, writer):
    webhook = _add(app, http_server.answer("/hook", Response(status=500), Response(b"oops", status=500)))
    writer.post("/api/v1/subscribers", json={"email": "dan@example.org"})
    assert _deliver(app) == 1
    assert _deliver(app) == 0  # not due before its backoff step
    clock.advance(seconds=sending.BACKOFF_SECONDS[0])
    assert _deliver(app) == 1
    [message] = _messages(app)
    assert (message.status, message.attempts, message.response_code, message.last_error) == (
        WebhookStatus.PENDING, 2, 500, "HTTP 500"
    )
    clock.advance(seconds=sending.BACKOFF_SECONDS[1])
    assert _deliver(app) == 1
    clock.advance(days=3)
    assert _deliver(app) == 0
    assert len(http_server.requests) == 3
    assert len({_headers(request)["webhook-id"] for request in http_server.requests}) == 1  # one event, retried
    assert len(_received(http_server, webhook.secret)) == 3
    [message] = _messages(app)
    assert (message.status, message.attempts, message.response_code) == (WebhookStatus.DELIVERED, 3, 200)


def test_retries_go_on_for_more_than_a_day_and_an_endpoint_failing_for_days_is_disabled(
    app, clock, http_server, writer
):
    http_server.serve("/hook", status=503)
    _add(app, http_server.url("/hook"), ["subscriber.requested"])
    started = clock.now()
    writer.post("/api/v1/subscribers", json={"email": "eli@example.org"})
    attempts = 0
    while _messages(app)[0].status is WebhookStatus.PENDING:
        attempts += _deliver(app)
        clock.set(max(clock.now(), _messages(app)[0].next_attempt_at))
    assert attempts == len(sending.BACKOFF_SECONDS) + 1 == len(http_server.requests)
    assert _messages(app)[0].status is WebhookStatus.FAILED
    assert _messages(app)[0].last_attempt_at - started > timedelta(days=1)
    with app.app_context():
        assert db.session.scalar(select(Webhook.disabled_at)) is None
    clock.set(started + sending.DISABLE_AFTER)
    writer.post("/api/v1/subscribers", json={"email": "fay@example.org"})
    _deliver(app)
    with app.app_context():
        webhook = db.session.scalar(select(Webhook))
        assert webhook.disabled_at == clock.now() and webhook.failing_since == started
    writer.post("/api/v1/subscribers", json={"email": "gil@example.org"})
    assert len(_messages(app)) == 2  # a disabled endpoint is sent nothing more


def test_a_hanging_receiver_does_not_slow_a_sign_up_and_an_attempt_ends_at_the_timeout(app, visitor, http_server):
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 0.5
    http_server.serve("/hook", hang=True)
    _add(app, http_server.url("/hook"), ["subscriber.requested"])
    answer = visitor.sign_up("hal@example.org")
    assert answer.status_code == 200
    assert http_server.requests == []  # the request and the worker's sign-up job sent nothing
    assert _deliver(app) == 1
    [message] = _messages(app)
    assert (message.status, message.response_code, message.last_error) == (
        WebhookStatus.PENDING, None, "no answer in time"
    )


def test_delivery_checks_the_address_again(app, http_server, writer):
    _add(app, http_server.url("/hook"), ["subscriber.requested"])
    app.config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"] = False
    writer.post("/api/v1/subscribers", json={"email": "ida@example.org"})
    _deliver(app)
    [message] = _messages(app)
    assert "loopback" in message.last_error and message.status is WebhookStatus.PENDING
    assert http_server.requests == []
