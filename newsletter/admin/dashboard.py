"""The dashboard: subscribers by status, the last 30 days, the next and the last digests."""

from __future__ import annotations

from flask import render_template

from ..models import AdminRole
from . import queries
from .blueprint import bp
from .roles import allow


@bp.get("/")
@allow(AdminRole.EDITOR)
def dashboard():
    digests = queries.recent_digests(limit=5)
    return render_template(
        "admin/dashboard.html",
        counts=queries.status_counts(),
        activity=queries.daily_activity(days=30),
        next_digest_at=queries.next_digest_at(),
        digests=digests,
        delivery_counts=queries.delivery_counts(digest.id for digest in digests),
    )
