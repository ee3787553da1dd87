"""Feed sources: the feeds polled (FEED_URLS and the admin's), their last result and warnings;
add one, remove one, ask for a poll now (the worker polls; the request never fetches)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from .. import feed_sources
from ..extensions import db
from ..models import AdminRole, Article, Feed
from .audited import note
from .blueprint import bp
from .formatting import feed_result
from .forms import ConfirmForm, FeedForm
from .roles import allow


@bp.get("/feeds")
@allow(AdminRole.EDITOR)
def feed_list():
    return _render(FeedForm())


@bp.post("/feeds")
@allow(AdminRole.EDITOR)
def feed_add():
    form = FeedForm()
    if form.validate() and _added(form):
        note("feed.add", None, form.url.data)
        db.session.commit()
        return _back(_("Feed added; the worker polls it in a moment."))
    return _render(form, 422)


@bp.post("/feeds/<int:feed_id>/poll")
@allow(AdminRole.EDITOR)
def feed_poll(feed_id: int):
    feed = _posted_feed(feed_id)
    if not feed_sources.polled(feed):
        return _back(_("This feed is not polled; add it again first."), "info")
    feed_sources.request_poll(feed)
    note("feed.poll", f"feed {feed.id}", feed.url)
    db.session.commit()
    return _back(_("Poll requested; the worker polls the feed in a moment."))


@bp.post("/feeds/<int:feed_id>/remove")
@allow(AdminRole.EDITOR)
def feed_remove(feed_id: int):
    feed = _posted_feed(feed_id)
    if feed_sources.configured(feed.url):
        return _back(_("This feed is set in FEED_URLS; remove it there."), "info")
    feed_sources.remove(feed)
    note("feed.remove", f"feed {feed.id}", feed.url)
    db.session.commit()
    return _back(_("Feed removed; its articles stay."))


def _back(message: str, category: str = "success"):
    flash(message, category)
    return redirect(url_for("admin.feed_list"))


def _posted_feed(feed_id: int) -> Feed:
    """The feed a button was pressed for: 404 if unknown, 400 without the form's CSRF token."""
    feed = db.get_or_404(Feed, feed_id)
    if not ConfirmForm().validate():
        abort(400)
    return feed


def _added(form: FeedForm) -> bool:
    """Hand the address to the service; its objection goes next to the field."""
    try:
        feed_sources.add(form.url.data)
    except feed_sources.AlreadyPolled:
        form.url.errors.append(_("This feed is polled already."))
        return False
    except feed_sources.FeedRefused as exc:
        db.session.rollback()
        if exc.refused is not None:
            form.url.errors.append(feed_result(str(exc.refused)))
        else:
            form.url.errors.append(_("Please enter a web address starting with http:// or https://."))
        return False
    return True


def _render(form: FeedForm, status: int = 200):
    feeds = list(db.session.execute(select(Feed).order_by(Feed.removed_at.is_not(None), Feed.url)).scalars())
    known = {feed.url for feed in feeds}
    unpolled = [url for url in current_app.config["FEED_URLS"] if url not in known]
    counts = dict(
        db.session.execute(
            select(Article.feed_id, func.count()).where(Article.feed_id.is_not(None)).group_by(Article.feed_id)
        ).all()
    )
    return (
        render_template(
            "admin/articles/feeds.html",
            feeds=feeds,
            unpolled=unpolled,
            counts=counts,
            form=form,
            action_form=ConfirmForm(),
            configured=feed_sources.configured,
            polled=feed_sources.polled,
        ),
        status,
    )
