"""Subscribers in the admin API (SPEC §9): list, export, add (a double opt-in, or evidence
imported as a CSV row is), withdraw and erase, through the services the pages and commands use.
The evidence names the channel ``api`` and the token's name as the source."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask_smorest import abort
from sqlalchemy import select

from .. import importer, personal_data, subscribers
from ..addresses import normalise_email
from ..extensions import db
from ..models import ConsentChannel, Subscriber, SubscriberStatus
from . import auth, pages
from .base import blueprint
from .fields import Annotated, Email

bp = blueprint("api_subscribers", __name__, "Subscribers: a bearer token; read scope for GET, write for the rest")
auth.protect(bp)


class SubscriberSchema(ma.Schema):
    id = ma.fields.Integer()
    email = ma.fields.String(allow_none=True, metadata={"description": "null once erased"})
    status = ma.fields.String(metadata={"description": "pending, confirmed, withdrawn, suspended or erased"})
    language = ma.fields.String(attribute="locale")
    created_at = ma.fields.DateTime()
    confirmed_at = ma.fields.DateTime(allow_none=True)
    withdrawn_at = ma.fields.DateTime(allow_none=True)
    source = ma.fields.String(allow_none=True)


SubscriberPage = pages.page_schema(SubscriberSchema, "SubscriberPage")


class SubscriberQuery(pages.PageQuery):
    status = ma.fields.String(validate=ma.validate.OneOf([status.value for status in SubscriberStatus]))


class ExportSchema(ma.Schema):
    """Everything held on the address, as ``export-subscriber`` prints it (SPEC §7)."""

    email = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    events = ma.fields.List(ma.fields.Dict(), metadata={"description": "Consent events, oldest first"})
    language = ma.fields.String()
    created_at = ma.fields.String(allow_none=True)
    confirmed_at = ma.fields.String(allow_none=True)
    withdrawn_at = ma.fields.String(allow_none=True)
    source = ma.fields.String(allow_none=True)
    hard_bounces = ma.fields.Integer()
    deliveries = ma.fields.List(ma.fields.Dict())
    bounces = ma.fields.List(ma.fields.Dict())


def _language(value: str) -> None:
    if value not in current_app.config["LANGUAGES"]:
        raise ma.ValidationError(f"Must be one of: {', '.join(current_app.config['LANGUAGES'])}.")


class EvidenceSchema(ma.Schema):
    """A double opt-in done elsewhere, as the columns of a CSV import (SPEC §5)."""

    consented_at = ma.fields.String(required=True, metadata={"description": "ISO 8601; no zone means TIMEZONE"})
    confirmed_at = ma.fields.String(required=True, metadata={"description": "ISO 8601, not before consented_at"})
    ip = ma.fields.String(validate=ma.validate.Length(max=45))
    source = ma.fields.String(
        validate=ma.validate.Length(max=64), metadata={"description": "Default: the token's name"}
    )


class NewSubscriberSchema(ma.Schema):
    email = Email(required=True)
    language = ma.fields.String(
        validate=_language, metadata={"description": "Of the mails; default the first of LANGUAGES"}
    )
    consent = ma.fields.Nested(
        EvidenceSchema,
        metadata={"description": "Evidence of consent given elsewhere: the address becomes confirmed, no mail"},
    )


class AddedSchema(SubscriberSchema):
    outcome = ma.fields.String(
        metadata={"description": "pending (a confirmation mail is queued), confirmed (imported), unchanged (known)"}
    )


def _find(email: str) -> Subscriber:
    try:
        subscriber = subscribers.find_by_email(normalise_email(email))
    except ValueError:
        subscriber = None
    if subscriber is None:
        abort(404, message="No subscriber has this address.")
    return subscriber


@bp.route("/subscribers", methods=["GET"])
@bp.doc(security=auth.SECURITY)
@bp.arguments(SubscriberQuery, location="query")
@bp.response(200, SubscriberPage)
def subscriber_list(args):
    """Subscribers, newest first, a page at a time (``status`` filters)."""
    query = select(Subscriber)
    if "status" in args:
        query = query.where(Subscriber.status == SubscriberStatus(args["status"]))
    return pages.page(query, Subscriber.id, args)


@bp.route("/subscribers/<email>", methods=["GET"])
@bp.doc(security=auth.SECURITY)
@bp.etag
@bp.response(200, ExportSchema)
def subscriber_export(email: str):
    """Everything held on the address: the export of SPEC §7, consent events included."""
    return personal_data.export(_find(email))


@bp.route("/subscribers", methods=["POST"])
@bp.doc(security=auth.SECURITY)
@bp.arguments(NewSubscriberSchema)
@bp.response(202, AddedSchema, description="Pending: a confirmation mail is queued (or the DOI cap was reached)")
@bp.alt_response(201, schema=AddedSchema, description="Confirmed with the evidence given, as a CSV row")
@bp.alt_response(200, schema=AddedSchema, description="Known already: left as it is")
@bp.alt_response(409, description="The address was erased and is suppressed: import it no more")
def subscriber_add(body):
    """Add a subscriber: a double opt-in as the form starts it, or, with ``consent``, confirmed
    with that evidence exactly as ``import-subscribers`` records a CSV row."""
    known = subscribers.find_by_email(body["email"])
    if known is not None and known.status is SubscriberStatus.CONFIRMED:
        return Annotated(known, outcome="unchanged"), 200
    if "consent" in body:
        return _import(body["email"], body["consent"])
    subscribers.request_subscription(
        body["email"], text=None, locale=body.get("language") or current_app.config["LANGUAGES"][0],
        ip=None, user_agent=None, channel=ConsentChannel.API, source=auth.current_token().name,
    )
    db.session.commit()
    return Annotated(subscribers.find_by_email(body["email"]), outcome="pending"), 202


def _import(email: str, evidence: dict):
    values = {"email": email, "source": auth.current_token().name, **evidence}
    try:
        report = importer.import_one(values)
    except ValueError as exc:
        abort(422, message=f"The consent evidence cannot be used: {exc}.", errors={"consent": [str(exc)]})
    if report.suppressed:
        db.session.rollback()
        abort(409, message="This address was erased at its owner's request; it is not imported again.")
    db.session.commit()
    subscriber = subscribers.find_by_email(email)
    outcome, code = ("confirmed", 201) if report.confirmed else ("unchanged", 200)
    return Annotated(subscriber, outcome=outcome), code


@bp.route("/subscribers/<email>/withdraw", methods=["POST"])
@bp.doc(security=auth.SECURITY)
@bp.response(200, SubscriberSchema)
def subscriber_withdraw(email: str):
    """Withdraw the address's consent, as the admin does; waiting mails are cancelled. Again: no change."""
    subscriber = _find(email)
    subscribers.withdraw(subscriber, ConsentChannel.API, detail=auth.evidence_detail())
    db.session.commit()
    return subscriber


@bp.route("/subscribers/<email>", methods=["DELETE"])
@bp.doc(security=auth.SECURITY)
@bp.response(204)
def subscriber_erase(email: str):
    """Erase the subscriber, as the admin does: evidence scrubbed, the address suppressed."""
    subscribers.erase(_find(email), ConsentChannel.API, detail=auth.evidence_detail())
    db.session.commit()
