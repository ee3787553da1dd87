"""Digests: preview of the next one, test send, Send now with live progress, history.

"Send now" only builds and queues the digest (the same :func:`newsletter.digest.build_digest`
the schedule runs); the sender delivers it. The digest's page polls a small JSON endpoint
for the counts, and without JavaScript it refreshes itself until the digest is done.
"""

from __future__ import annotations

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from .. import articles, digest
from ..delivery import holds
from ..extensions import db
from ..inputs import int_arg
from ..models import AdminRole, Digest, DigestTrigger, Subscriber, SubscriberStatus
from . import preview, queries
from .audited import note
from .blueprint import bp
from .forms import ConfirmForm, SendNowForm, TestSendForm
from .roles import allow

HISTORY_SIZE = 20


@bp.get("/digests")
@allow(AdminRole.EDITOR)
def digest_list():
    history = queries.recent_digests(limit=HISTORY_SIZE + 1, before_id=int_arg("before"))
    older = history[HISTORY_SIZE - 1].id if len(history) > HISTORY_SIZE else None
    history = history[:HISTORY_SIZE]
    test_form = TestSendForm(data={"email": current_user.email})
    return _render_list(history, older, test_form)


def _render_list(history: list[Digest], older: int | None, test_form: TestSendForm, status: int = 200):
    locale = preview.language(request.args.get("lang"), str(get_locale()))
    next_digest = preview.next_digest(locale)
    return (
        render_template(
            "admin/digests/list.html",
            preview=next_digest,
            preview_locale=locale,
            recipients=_confirmed_count(),
            history=history,
            older=older,
            counts=queries.delivery_counts(item.id for item in history),
            test_form=test_form,
        ),
        status,
    )


def _confirmed_count() -> int:
    return db.session.execute(
        select(func.count()).select_from(Subscriber).where(Subscriber.status == SubscriberStatus.CONFIRMED)
    ).scalar_one()


@bp.post("/digests/test")
@allow(AdminRole.EDITOR)
def digest_send_test():
    """Queue a test mail of the next digest to the address the admin typed."""
    form = TestSendForm()
    if not form.validate():
        history = queries.recent_digests(limit=HISTORY_SIZE)
        return _render_list(history, None, form, 422)
    locale = preview.language(request.form.get("lang"), str(get_locale()))
    try:
        digest.queue_test(form.email.data, locale=locale)
    except digest.SuppressedAddress:
        form.email.errors.append(_("This address was erased at its owner's request and must not be mailed."))
        return _render_list(queries.recent_digests(limit=HISTORY_SIZE), None, form, 422)
    note("digest.test-send", None, f"to {form.email.data}")
    db.session.commit()
    flash(_("A test of the next digest is on its way to %(email)s.", email=form.email.data), "success")
    return redirect(url_for("admin.digest_list"))


@bp.route("/digests/send-now", methods=["GET", "POST"])
@allow(AdminRole.EDITOR)
def digest_send_now():
    """Build the next digest of the articles the admin chose, with their subject and intro, and
    queue it for every confirmed subscriber, after a confirmation."""
    form = SendNowForm()
    waiting = articles.undigested()
    if request.method == "GET":
        return _render_send_now(form, waiting, {article.id for article in waiting})
    chosen = {article.id for article in waiting} & _chosen_ids()
    if waiting and (not form.validate() or not chosen):
        if not chosen:
            form.form_errors.append(_("Choose at least one article."))
        return _render_send_now(form, waiting, chosen, 422)
    issue = digest.build_digest(DigestTrigger.ADMIN, subject=form.subject.data, intro=form.intro.data, only=chosen)
    if issue is None:  # nothing waiting, or another build took the articles meanwhile
        db.session.rollback()
        flash(_("There is nothing new to send: every article is already in a digest."), "info")
        return redirect(url_for("admin.digest_list"))
    note("digest.send-now", f"digest {issue.id}", f"{issue.recipient_count} recipients, {len(chosen)} articles")
    db.session.commit()
    flash(
        ngettext(
            "The digest is queued for %(num)s subscriber and is being sent.",
            "The digest is queued for %(num)s subscribers and is being sent.",
            issue.recipient_count,
        ),
        "success",
    )
    return redirect(url_for("admin.digest_detail", digest_id=issue.id))


def _chosen_ids() -> set[int]:
    """The ids of the articles ticked on the Send now page (anything else is ignored)."""
    return {int(value) for value in request.form.getlist("article") if value.isascii() and value.isdigit()}


def _render_send_now(form: SendNowForm, waiting: list, chosen: set[int], status: int = 200):
    return (
        render_template(
            "admin/digests/send_now.html",
            form=form,
            articles=waiting,
            chosen=chosen,
            recipients=_confirmed_count(),
            max_articles=current_app.config["DIGEST_MAX_ARTICLES"],
        ),
        status,
    )


@bp.get("/digests/<int:digest_id>")
@allow(AdminRole.EDITOR)
def digest_detail(digest_id: int):
    issue = db.get_or_404(Digest, digest_id)
    counts = queries.delivery_counts([issue.id])[issue.id]
    return render_template(
        "admin/digests/detail.html",
        digest=issue,
        articles=articles.of_digest(issue.id),
        counts=counts,
        problems=queries.deliveries_with_problems(issue.id),
        stop_reason=holds.stop_reason(issue.id) if counts.held else None,
        resume_form=ConfirmForm(),
    )


@bp.post("/digests/<int:digest_id>/resume")
@allow(AdminRole.EDITOR)
def digest_resume(digest_id: int):
    """Queue the held mails of a stopped digest again, once the admin has fixed the cause."""
    issue = db.get_or_404(Digest, digest_id)
    if not ConfirmForm().validate():
        abort(400)
    resumed = holds.resume(issue.id)
    if resumed:
        note("digest.resume", f"digest {issue.id}", f"{resumed} held mails queued again")
    db.session.commit()
    if resumed:
        flash(
            ngettext(
                "%(num)s held mail of this digest is queued again.",
                "%(num)s held mails of this digest are queued again.",
                resumed,
            ),
            "success",
        )
    else:
        flash(_("No mail of this digest is held."), "info")
    return redirect(url_for("admin.digest_detail", digest_id=issue.id))


@bp.get("/digests/<int:digest_id>/progress.json")
@allow(AdminRole.EDITOR)
def digest_progress(digest_id: int):
    """The digest's delivery counts, polled by its page while it is being sent."""
    issue = db.get_or_404(Digest, digest_id)
    return jsonify(queries.delivery_counts([issue.id])[issue.id].as_json())
