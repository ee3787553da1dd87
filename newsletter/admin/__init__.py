"""The admin area at /admin (SPEC §4): sign-in, dashboard, subscribers, articles, digests.

Every page needs a signed-in admin; the one exception is the login page. The guard
(:func:`.auth.require_admin`) runs before each admin view, so a new view cannot forget it.
Views are thin: they parse the request, call a service or a query of :mod:`.queries`, commit
once, and render. Each view module adds its routes to :data:`.blueprint.bp`.
"""

from __future__ import annotations

from . import articles, auth, dashboard, digests, embed, feeds, reports, subscribers  # noqa: F401  (their routes on bp)
from .blueprint import bp

__all__ = ["bp"]
