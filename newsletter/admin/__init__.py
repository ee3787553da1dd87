"""The admin area at /admin (SPEC §4): sign-in, dashboard, subscribers, articles, digests.

Every page needs a signed-in admin whose role opens it (:mod:`.roles`); the exceptions are
the sign-in pages. The guard (:func:`.auth.require_admin`) runs before each admin view and
refuses a view that declared no role, so a new view cannot forget it.
Views are thin: they parse the request, call a service or a query of :mod:`.queries`, commit
once, and render. Each view module adds its routes to :data:`.blueprint.bp`.
"""

from __future__ import annotations

from . import (  # noqa: F401  (their routes on bp)
    account,
    articles,
    audit_log,
    auth,
    connections,
    dashboard,
    digests,
    embed,
    feeds,
    reports,
    subscribers,
    team,
)
from .blueprint import bp

__all__ = ["bp"]
