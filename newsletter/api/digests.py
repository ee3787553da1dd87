"""Digests in the admin API (SPEC §9): the history with delivery counts, and building one now
(the admin's Send now: :func:`newsletter.digest.build_digest`; the worker sends it)."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import abort
from sqlalchemy import select

from .. import digest
from ..admin import queries
from ..extensions import db
from ..models import Digest, DigestTrigger
from . import auth, pages
from .base import blueprint
from .fields import Annotated

bp = blueprint("api_digests", __name__, "Digests: a bearer token; read scope for GET, write for the rest")
auth.protect(bp)


class CountsSchema(ma.Schema):
    queued = ma.fields.Integer(metadata={"description": "Still to be sent"})
    sent = ma.fields.Integer()
    failed = ma.fields.Integer()
    cancelled = ma.fields.Integer()
    held = ma.fields.Integer(metadata={"description": "Of a stopped digest, waiting for an admin"})
    bounced = ma.fields.Integer()
    complaints = ma.fields.Integer()


class DigestSchema(ma.Schema):
    id = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    trigger = ma.fields.String(metadata={"description": "schedule, command or admin (Send now, the API)"})
    subject = ma.fields.String()
    recipient_count = ma.fields.Integer()


DigestPage = pages.page_schema(DigestSchema, "DigestPage")


class DigestDetailSchema(DigestSchema):
    counts = ma.fields.Nested(CountsSchema)


class NewDigestSchema(ma.Schema):
    subject = ma.fields.String(
        validate=ma.validate.Length(max=1000), metadata={"description": "Default: the site and the lead article"}
    )
    intro = ma.fields.String(validate=ma.validate.Length(max=10_000), metadata={"description": "Plain text"})


def _cleaned(field: str, clean, value: str | None) -> str | None:
    try:
        return clean(value)
    except digest.DigestInputError as exc:
        abort(422, message=str(exc), errors={field: [str(exc)]})


def _detail(issue: Digest) -> Annotated:
    return Annotated(issue, counts=queries.delivery_counts([issue.id])[issue.id])


@bp.route("/digests", methods=["GET"])
@bp.doc(security=auth.SECURITY)
@bp.arguments(pages.PageQuery, location="query")
@bp.response(200, DigestPage)
def digest_list(args):
    """Digests, newest first, a page at a time."""
    return pages.page(select(Digest), Digest.id, args)


@bp.route("/digests/<int:digest_id>", methods=["GET"])
@bp.doc(security=auth.SECURITY)
@bp.etag
@bp.response(200, DigestDetailSchema)
def digest_detail(digest_id: int):
    """One digest and where its mails stand."""
    issue = db.session.get(Digest, digest_id)
    if issue is None:
        abort(404, message="No digest has this id.")
    return _detail(issue)


@bp.route("/digests", methods=["POST"])
@bp.doc(security=auth.SECURITY)
@bp.arguments(NewDigestSchema)
@bp.response(201, DigestDetailSchema)
@bp.alt_response(409, description="No article is waiting: there is nothing to send")
def digest_send_now(body):
    """Build a digest of every waiting article now and queue it for every confirmed subscriber
    (the admin's Send now); the worker sends it."""
    subject = _cleaned("subject", digest.clean_subject, body.get("subject"))
    intro = _cleaned("intro", digest.clean_intro, body.get("intro"))
    issue = digest.build_digest(DigestTrigger.ADMIN, subject=subject, intro=intro)
    if issue is None:
        db.session.rollback()
        abort(409, message="There is nothing new to send: every article is already in a digest.")
    db.session.commit()
    return _detail(issue)
