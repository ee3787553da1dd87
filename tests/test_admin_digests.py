"""Digests in the admin area: preview, test send, Send now with progress, history (SPEC §4, §6)."""

from __future__ import annotations

import html as html_module
import json
import re

import pytest

from newsletter.delivery import sender
from newsletter.delivery.kinds import SPECS
from newsletter.extensions import db
from newsletter.models import (
    Article,
    Delivery,
    DeliveryStatus,
    Digest,
    DigestTrigger,
    MailKind,
    SubscriberStatus,
)
from tests.support.admin import ADMIN_EMAIL, post, send_now
from tests.support.factories import add_article, add_subscriber


@pytest.fixture
def news(app):
    with app.app_context():
        add_subscriber("anna@example.org", locale="de")
        add_subscriber("bert@example.org", locale="en")
        add_subscriber("carla@example.org", SubscriberStatus.PENDING)
        add_subscriber("dora@example.org", SubscriberStatus.WITHDRAWN)
        add_article(
            "Zinsen <steigen> & fallen", url="https://example.org/zinsen", summary="Was Sparer wissen müssen."
        )
        add_article("Sommerfest", url="https://example.org/fest")
        db.session.commit()


def _digests(app) -> list[Digest]:
    with app.app_context():
        rows = list(db.session.execute(db.select(Digest)).scalars())
        db.session.expunge_all()
        return rows


def _deliveries(app, **filters) -> list[Delivery]:
    with app.app_context():
        rows = list(
            db.session.execute(db.select(Delivery).filter_by(**filters).order_by(Delivery.id)).scalars()
        )
        db.session.expunge_all()
        return rows


def _srcdoc(html: str) -> str:
    return html_module.unescape(
        re.search(r'<iframe class="mail-preview"[^>]*srcdoc="([^"]*)"', html).group(1)
    )


def test_the_preview_shows_the_next_digest_and_changes_nothing(app, admin_client, news):
    page = admin_client.get("/admin/digests", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Zinsen &lt;steigen&gt; &amp; fallen" in html  # listed, escaped
    assert "Sommerfest" in html
    iframe = re.search(r"<iframe[^>]*>", html).group(0)
    assert 'sandbox=""' in iframe  # no scripts, no same-origin access
    document = _srcdoc(html)
    assert document.lstrip().lower().startswith("<!doctype html>")
    assert "Zinsen &lt;steigen&gt; &amp; fallen" in document  # escaped inside the mail as well
    assert 'href="https://example.org/zinsen"' in document
    text_part = html_module.unescape(re.search(r'<pre id="preview-text">(.*?)</pre>', html, re.S).group(1))
    assert "Zinsen <steigen> & fallen" in text_part
    assert "https://example.org/zinsen" in text_part
    assert "/unsubscribe/" in text_part  # the footer a subscriber gets
    # Looking is free: no digest, no mail, every article still waiting.
    assert _digests(app) == []
    assert _deliveries(app, kind=MailKind.DIGEST) == []
    with app.app_context():
        assert db.session.execute(db.select(Article).where(Article.digest_id.is_not(None))).first() is None


def test_the_preview_is_what_a_subscriber_receives(app, admin_client, news, clock):
    # Render the preview, then the real digest mail to a subscriber in the same language at
    # the same moment: they differ only in the recipient's own address, date and tokens.
    preview_html = admin_client.get("/admin/digests?lang=en").get_data(as_text=True)
    preview_text = html_module.unescape(
        re.search(r'<pre id="preview-text">(.*?)</pre>', preview_html, re.S).group(1)
    )
    preview_document = _srcdoc(preview_html)
    with app.app_context():
        from newsletter import digest

        issue = digest.build_digest(DigestTrigger.SCHEDULE)
        db.session.flush()
        delivery = db.session.execute(
            db.select(Delivery)
            .where(Delivery.digest_id == issue.id)
            .join(Delivery.subscriber)
            .filter_by(email="bert@example.org")
        ).scalar_one()
        real = SPECS[MailKind.DIGEST].content(delivery)
        db.session.rollback()

    def neutral(text: str) -> str:
        text = re.sub(r"/(unsubscribe|preferences)/[^\s\"<>]+", r"/\1/TOKEN", text)
        text = text.replace("bert@example.org", "subscriber@example.org")
        return " ".join(text.split())  # the text part is wrapped around the address

    assert neutral(preview_text) == neutral(real.text)
    assert neutral(preview_document) == neutral(real.html)


def test_the_preview_language_can_be_switched(app, admin_client, news):
    german = _srcdoc(admin_client.get("/admin/digests?lang=de").get_data(as_text=True))
    english = _srcdoc(admin_client.get("/admin/digests?lang=en").get_data(as_text=True))
    assert '<html lang="de"' in german
    assert '<html lang="en"' in english
    assert admin_client.get("/admin/digests?lang=xx").status_code == 200


def test_a_test_send_goes_through_the_outbox_to_the_chosen_address_only(app, admin_client, news, outbox):
    page = admin_client.get("/admin/digests").get_data(as_text=True)
    assert f'value="{ADMIN_EMAIL}"' in page  # proposed: the admin's own address
    response = post(admin_client, "/admin/digests/test", {"email": "Chefin@Example.org", "lang": "en"})
    assert response.status_code == 302
    [delivery] = _deliveries(app)
    assert delivery.kind is MailKind.DIGEST_TEST
    assert delivery.to_address == "chefin@example.org"
    assert delivery.status is DeliveryStatus.QUEUED
    assert outbox == []  # queued, not sent on the request
    with app.app_context():
        report = sender.drain()
    assert report.sent == 1
    [message] = outbox
    assert message["To"] == "chefin@example.org"
    assert "Zinsen <steigen> & fallen" in message.get_body(("plain",)).get_content()
    # Not counted as a digest; the articles still wait for the real one.
    assert _digests(app) == []
    with app.app_context():
        assert db.session.execute(db.select(Article).where(Article.digest_id.is_not(None))).first() is None



@pytest.mark.parametrize("address", ["", "not-an-address", "a@b@c.org", "x" * 250 + "@example.org"])
def test_a_test_send_to_a_bad_address_gets_the_page_again(app, admin_client, news, address):
    response = post(
        admin_client, "/admin/digests/test", {"email": address}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 422
    assert 'id="email-errors"' in response.get_data(as_text=True)
    assert _deliveries(app) == []


def test_a_test_send_to_an_erased_address_is_refused(app, admin_client, news):
    # The suppression list binds admins too: an erased address gets no mail, not even a test.
    from newsletter import suppression

    with app.app_context():
        suppression.suppress("gone@example.org", "erased")
        db.session.commit()
    response = post(
        admin_client, "/admin/digests/test", {"email": "Gone@Example.org"}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 422
    assert "was erased at its owner" in response.get_data(as_text=True)
    assert _deliveries(app) == []


def test_send_now_asks_first_and_then_only_queues(app, admin_client, news, outbox):
    question = admin_client.get("/admin/digests/send-now", headers={"Accept-Language": "en"})
    assert question.status_code == 200
    text = question.get_data(as_text=True)
    assert "all 2 confirmed subscribers" in text
    assert "Zinsen &lt;steigen&gt; &amp; fallen" in text
    assert _digests(app) == []

    response = send_now(admin_client)
    assert response.status_code == 302
    [issue] = _digests(app)
    assert response.headers["Location"] == f"/admin/digests/{issue.id}"
    assert issue.trigger is DigestTrigger.ADMIN
    assert issue.recipient_count == 2
    deliveries = _deliveries(app, digest_id=issue.id)
    assert {delivery.status for delivery in deliveries} == {DeliveryStatus.QUEUED}
    assert len(deliveries) == 2
    assert outbox == []  # never sent on the request

    progress = admin_client.get(f"/admin/digests/{issue.id}/progress.json")
    assert progress.mimetype == "application/json"
    assert json.loads(progress.data) == {
        "queued": 2,
        "sent": 0,
        "failed": 0,
        "cancelled": 0,
        "held": 0,
        "bounced": 0,
        "complaints": 0,
        "retrying": 0,
        "total": 2,
        "percent": 0,
        "done": False,
    }
    page = admin_client.get(f"/admin/digests/{issue.id}").get_data(as_text=True)
    assert f'data-progress-url="/admin/digests/{issue.id}/progress.json"' in page
    assert '<meta http-equiv="refresh"' in page  # without JS the page reloads itself

    with app.app_context():
        sender.drain()
    assert len(outbox) == 2
    counts = json.loads(admin_client.get(f"/admin/digests/{issue.id}/progress.json").data)
    assert (
        counts["sent"] == 2 and counts["queued"] == 0 and counts["percent"] == 100 and counts["done"] is True
    )
    page = admin_client.get(f"/admin/digests/{issue.id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh"' not in page


def test_send_now_with_nothing_new_builds_nothing(app, admin_client):
    with app.app_context():
        add_subscriber("anna@example.org")
        db.session.commit()
    english = {"Accept-Language": "en"}  # the notice is worded in the language of the request
    response = send_now(admin_client, headers=english)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/digests"
    assert _digests(app) == []
    page = admin_client.get("/admin/digests", headers=english).get_data(as_text=True)
    assert "nothing new to send" in page


def test_pressing_send_now_twice_sends_one_digest(app, admin_client, news):
    send_now(admin_client)
    send_now(admin_client)
    assert len(_digests(app)) == 1
    assert len(_deliveries(app, kind=MailKind.DIGEST)) == 2


def test_history_shows_counts_and_failures_with_the_smtp_reply(
    smtp_config, app, admin_client, news, smtp_server
):
    smtp_server.handler.rcpt_replies["bert@example.org"] = "550 5.1.1 <bert@example.org>: Recipient unknown"
    send_now(admin_client)
    [issue] = _digests(app)
    with app.app_context():
        sender.drain()
    assert [str(m["To"]) for m in smtp_server.messages] == ["anna@example.org"]

    history = admin_client.get("/admin/digests").get_data(as_text=True)
    row = history[history.index(f'href="/admin/digests/{issue.id}"') :]
    row = row[: row.index("</tr>")]
    assert re.findall(r'<td class="num[^"]*">(\d+)</td>', row) == [
        "2",
        "0",
        "1",
        "1",
        "1",
    ]  # recipients, queued, sent, failed, bounced (bert's 5.1.1 at send time)

    detail = admin_client.get(f"/admin/digests/{issue.id}").get_data(as_text=True)
    assert "550 5.1.1 &lt;bert@example.org&gt;: Recipient unknown" in detail
    assert "bert@example.org" in detail
    counts = json.loads(admin_client.get(f"/admin/digests/{issue.id}/progress.json").data)
    assert counts == {**counts, "sent": 1, "failed": 1, "done": True}

    dashboard = admin_client.get("/admin/").get_data(as_text=True)
    assert f'href="/admin/digests/{issue.id}"' in dashboard


def test_unknown_digests_are_a_404(app, admin_client):
    assert admin_client.get("/admin/digests/99").status_code == 404
    assert admin_client.get("/admin/digests/99/progress.json").status_code == 404
