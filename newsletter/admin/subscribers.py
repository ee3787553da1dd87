"""Subscribers: search and list, one subscriber's evidence and mails, withdrawal on their behalf."""

from __future__ import annotations

import json

from flask import Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _

from .. import clock, consent, subscriber_export, subscribers
from ..evidence_report import render_evidence_page
from ..extensions import db
from ..inputs import int_arg
from ..models import AdminRole, ConsentChannel, Subscriber, SubscriberStatus
from . import queries, subscriber_search
from .audited import note
from .blueprint import bp
from .forms import ConfirmForm, SubscriberFilterForm
from .roles import allow

#: The states from which an admin can withdraw consent on a subscriber's behalf.
WITHDRAWABLE = (SubscriberStatus.PENDING, SubscriberStatus.CONFIRMED, SubscriberStatus.SUSPENDED)


@bp.get("/subscribers")
@allow(AdminRole.ADMIN)
def subscriber_list():
    form = SubscriberFilterForm(request.args, sources=subscriber_search.sources())
    if not form.validate():
        return render_template("admin/subscribers/list.html", form=form, page=None), 400
    page = subscriber_search.search(
        form.q.data or "",
        form.chosen_status,
        source=form.source.data or None,
        after=int_arg("after"),
        before=int_arg("before"),
    )
    return render_template(
        "admin/subscribers/list.html", form=form, page=page, page_count_limit=subscriber_search.COUNT_LIMIT
    )


@bp.get("/subscribers.csv")
@allow(AdminRole.ADMIN)
def subscriber_download():
    """Every subscriber with an address, with their consent evidence, as CSV (streamed)."""
    filename = f"subscribers-{clock.now():%Y-%m-%d}.csv"
    return Response(
        stream_with_context(subscriber_export.csv_chunks()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/subscribers/<int:subscriber_id>")
@allow(AdminRole.ADMIN)
def subscriber_detail(subscriber_id: int):
    subscriber = db.get_or_404(Subscriber, subscriber_id)
    return render_template(
        "admin/subscribers/detail.html",
        subscriber=subscriber,
        events=consent.history(subscriber),
        deliveries=queries.subscriber_deliveries(subscriber.id),
        bounces=queries.subscriber_bounces(subscriber.id),
        withdrawable=subscriber.status in WITHDRAWABLE,
        form=ConfirmForm(),
    )


@bp.get("/subscribers/<int:subscriber_id>/evidence.json")
@allow(AdminRole.ADMIN)
def subscriber_evidence(subscriber_id: int):
    """The subscriber's consent evidence as the CLI and the preferences page give it (SPEC §7)."""
    subscriber = db.get_or_404(Subscriber, subscriber_id)
    body = json.dumps(consent.evidence(subscriber), indent=2, ensure_ascii=False)
    return Response(
        body + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="evidence-subscriber-{subscriber.id}.json"'},
    )


@bp.get("/subscribers/<int:subscriber_id>/evidence")
@allow(AdminRole.ADMIN)
def subscriber_evidence_page(subscriber_id: int):
    """The printable evidence page (prints well to PDF): every event, wording, DOI mail as sent."""
    return render_evidence_page(db.get_or_404(Subscriber, subscriber_id))


@bp.route("/subscribers/<int:subscriber_id>/withdraw", methods=["GET", "POST"])
@allow(AdminRole.ADMIN)
def subscriber_withdraw(subscriber_id: int):
    """Withdraw consent for the subscriber (e.g. asked by phone); GET asks to confirm first."""
    subscriber = db.get_or_404(Subscriber, subscriber_id)
    form = ConfirmForm()
    if request.method == "GET" or not form.validate():
        if subscriber.status not in WITHDRAWABLE:
            flash(_("This subscriber has no consent to withdraw."), "info")
            return redirect(url_for("admin.subscriber_detail", subscriber_id=subscriber.id))
        return render_template("admin/subscribers/withdraw.html", subscriber=subscriber, form=form)
    if subscribers.withdraw(subscriber, ConsentChannel.ADMIN):
        note("subscriber.withdraw", f"subscriber {subscriber.id}")
        db.session.commit()
        flash(_("Consent withdrawn. No more mails go to this address."), "success")
    else:
        flash(_("This subscriber has no consent to withdraw."), "info")
    return redirect(url_for("admin.subscriber_detail", subscriber_id=subscriber.id))
