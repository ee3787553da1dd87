"""Digests the publisher controls (issue 15 points 3 and 4): at most DIGEST_MAX_ARTICLES newest
first with a pointer to the rest; a subject given on the command line or in Send now; a default
subject that names the lead article; an intro paragraph; single articles left out, kept out of
digests or deleted in the admin. Mails go over a real SMTP server on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter.delivery import sender
from newsletter.extensions import db
from newsletter.models import Article, ArticleSource, Digest, KeptOut
from tests.support.admin import post, send_now
from tests.support.clocks import START
from tests.support.factories import add_article, add_subscriber

ENGLISH = {"Accept-Language": "en"}


@pytest.fixture
def readers(smtp_app):
    with smtp_app.app_context():
        add_subscriber("de@example.org", locale="de")
        add_subscriber("en@example.org", locale="en")
        db.session.commit()


def articles_in(app, count: int) -> list[str]:
    """``count`` articles an hour apart, the newest last in the list returned (titles)."""
    titles = [f"Beitrag {number}" for number in range(1, count + 1)]
    with app.app_context():
        for number, title in enumerate(titles, 1):
            published_at = START - timedelta(hours=count - number)
            add_article(title, url=f"https://www.example.de/blog/{number}", published_at=published_at)
        db.session.commit()
    return titles


def bodies(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    return text, message.get_body(("html",)).get_content()


def send_digest(runner, *args: str):
    return runner.invoke(args=["send-digest", *args])


def digests(app) -> list[Digest]:
    with app.app_context():
        rows = db.session.execute(select(Digest).order_by(Digest.id)).scalars().all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def three_at_most(config):
    config["DIGEST_MAX_ARTICLES"] = 3


def test_a_digest_shows_at_most_digest_max_articles_newest_first_and_says_how_many_more(
    three_at_most, readers, smtp_app, runner, smtp_server
):
    titles = articles_in(smtp_app, 5)
    result = send_digest(runner)
    assert result.exit_code == 0, result.output
    (english,) = smtp_server.handler.to("en@example.org")
    (german,) = smtp_server.handler.to("de@example.org")
    text, html = bodies(english)
    shown = [title for title in reversed(titles)][:3]
    assert [text.index(title) for title in shown] == sorted(text.index(title) for title in shown)  # newest first
    assert "Beitrag 2" not in text and "Beitrag 1" not in text
    assert "Beitrag 2" not in html and "Beitrag 1" not in html
    assert "There are 2 more new articles on our website:\nhttps://www.example.de/" in text
    assert 'There are 2 more new articles on our website: <a href="https://www.example.de/"' in html
    german_text, _ = bodies(german)
    assert "2 weitere neue Artikel finden Sie auf unserer Website:\nhttps://www.example.de/" in german_text
    assert english["Subject"] == "Beispiel Verlag: Beitrag 5 and 4 more"  # names the lead article


def test_send_digest_takes_a_subject_for_every_language(readers, smtp_app, runner, smtp_server):
    articles_in(smtp_app, 2)
    refused = send_digest(runner, "--subject", "Zeile eins\nBcc: x@example.org")
    assert refused.exit_code == 2 and "the subject must be a single line" in refused.output
    assert digests(smtp_app) == []

    result = send_digest(runner, "--subject", "  Unser Frühlingsangebot  ")
    assert result.exit_code == 0, result.output
    assert {str(message["Subject"]) for message in smtp_server.messages} == {"Unser Frühlingsangebot"}
    (issue,) = digests(smtp_app)
    assert (issue.subject, issue.custom_subject) == ("Unser Frühlingsangebot", "Unser Frühlingsangebot")


def test_without_a_subject_each_digest_of_a_day_is_named_by_its_lead_article(
    readers, smtp_app, runner, smtp_server, clock
):
    for title in ("Morgens", "Mittags", "Abends"):
        with smtp_app.app_context():
            add_article(title)
            db.session.commit()
        assert send_digest(runner).exit_code == 0
        clock.advance(hours=4)
    subjects = [issue.subject for issue in digests(smtp_app)]
    assert subjects == ["Beispiel Verlag: Morgens", "Beispiel Verlag: Mittags", "Beispiel Verlag: Abends"]
    english = [str(message["Subject"]) for message in smtp_server.handler.to("en@example.org")]
    assert english == subjects  # German and English say it alike when only one article is in it


def test_send_now_takes_a_subject_and_an_intro_and_leaves_single_articles_out(
    readers, smtp_app, admin_client, smtp_server
):
    articles_in(smtp_app, 3)
    page = admin_client.get("/admin/digests/send-now", headers=ENGLISH).get_data(as_text=True)
    assert page.count('name="article"') == 3 and "Subject (empty:" in page and "Intro paragraph" in page

    bad = send_now(admin_client, {"subject": "a\rb"}, headers=ENGLISH)
    assert bad.status_code == 422 and "single line" in bad.get_data(as_text=True)
    nothing = send_now(admin_client, leave_out=("Beitrag 1", "Beitrag 2", "Beitrag 3"), headers=ENGLISH)
    assert nothing.status_code == 422 and "Choose at least one article." in nothing.get_data(as_text=True)
    assert digests(smtp_app) == []

    intro = "Liebe Leserinnen und Leser,\r\n\r\nheute <b>zwei</b> Neuigkeiten."
    response = send_now(admin_client, {"subject": "Zwei Neuigkeiten", "intro": intro}, leave_out=("Beitrag 2",))
    assert response.status_code == 302
    (issue,) = digests(smtp_app)
    assert issue.subject == "Zwei Neuigkeiten"
    assert issue.intro == "Liebe Leserinnen und Leser,\n\nheute <b>zwei</b> Neuigkeiten."
    with smtp_app.app_context():
        left = db.session.execute(select(Article.title).where(Article.digest_id.is_(None))).scalars().all()
        assert left == ["Beitrag 2"]  # waits for the next digest
        sender.drain()
    (message,) = smtp_server.handler.to("de@example.org")
    assert message["Subject"] == "Zwei Neuigkeiten"
    text, html = bodies(message)
    assert "Liebe Leserinnen und Leser,\n\nheute <b>zwei</b> Neuigkeiten.\n\n" in text
    assert ">Liebe Leserinnen und Leser,</p>" in html and "heute &lt;b&gt;zwei&lt;/b&gt; Neuigkeiten." in html
    assert "Beitrag 3" in text and "Beitrag 1" in text and "Beitrag 2" not in text


def test_articles_can_be_kept_out_of_digests_let_in_again_and_deleted(app, admin_client, runner, clock):
    with app.app_context():
        mine = add_article("Von Hand", url="https://www.example.de/hand").id
        fed = add_article("Aus dem Feed", url="https://www.example.de/f", guid="urn:f:1", source=ArticleSource.FEED).id
        kept = add_article("Noch nicht", url="https://www.example.de/spaeter").id
        old = add_article("Archiv", url="https://www.example.de/archiv", kept_out=KeptOut.BACKLOG).id
        db.session.commit()
    listing = admin_client.get("/admin/articles", headers=ENGLISH).get_data(as_text=True)
    assert "backlog, not mailed" in listing

    assert post(admin_client, f"/admin/articles/{kept}/keep-out", {"out": "1"}).status_code == 302
    assert post(admin_client, f"/admin/articles/{old}/keep-out", {"out": "0"}).status_code == 302
    assert post(admin_client, f"/admin/articles/{kept}/keep-out", {"out": "maybe"}).status_code == 400
    question = admin_client.get(f"/admin/articles/{fed}/delete", headers=ENGLISH)
    assert question.status_code == 200 and "Its feed will not bring it back." in question.get_data(as_text=True)
    assert post(admin_client, f"/admin/articles/{fed}/delete").status_code == 302
    assert post(admin_client, f"/admin/articles/{mine}/delete").status_code == 302

    with app.app_context():
        rows = {a.title: a.kept_out for a in db.session.execute(select(Article)).scalars()}
    assert rows == {"Aus dem Feed": KeptOut.DELETED, "Noch nicht": KeptOut.ADMIN, "Archiv": None}
    listing = admin_client.get("/admin/articles", headers=ENGLISH).get_data(as_text=True)
    assert "Aus dem Feed" not in listing and "kept out" in listing
    assert admin_client.get(f"/admin/articles/{fed}/edit").status_code == 404

    result = runner.invoke(args=["send-digest"])
    assert result.output.startswith("digest 1: 1 article for 0 subscribers")
    with app.app_context():
        assert db.session.get(Article, old).digest_id == 1 and db.session.get(Article, kept).digest_id is None
    # Mailed: it stays part of its digest.
    mailed = post(admin_client, f"/admin/articles/{old}/delete", headers=ENGLISH, follow_redirects=True)
    assert "already mailed in a digest" in mailed.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Article, old) is not None
