"""Who may open which admin page (SPEC §11): every admin view declares it with :func:`allow`.

``@allow(AdminRole.EDITOR)`` lets editors and admins in (articles, feeds, digests, one's own
account), ``@allow(AdminRole.ADMIN)`` admins only (subscriber data, bounce reports, the team,
the audit log, tokens, webhooks), ``@allow(OPEN)`` anybody (the sign-in pages). The guard in
:func:`.auth.require_admin` reads the declaration; a view without one is refused to everybody,
and ``tests/test_admin_roles.py`` fails on it, so a new page cannot forget to say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, request

from ..models import AdminRole, AdminUser

#: Declared by the pages anybody may open.
OPEN = "open"

_ATTRIBUTE = "admin_role"
View = TypeVar("View", bound=Callable)


def allow(role: AdminRole | str) -> Callable[[View], View]:
    """Declare who may open the view: put it right above the ``def``, below ``@bp.route``."""

    def declare(view: View) -> View:
        setattr(view, _ATTRIBUTE, role)
        return view

    return declare


def declared(view: Callable) -> AdminRole | str | None:
    """The view's declaration, or None where it made none."""
    return getattr(view, _ATTRIBUTE, None)


def of_request() -> AdminRole | str | None:
    """What the view of the current request declared."""
    return declared(current_app.view_functions.get(request.endpoint))


def may(admin: AdminUser, role: AdminRole | str | None) -> bool:
    """Whether ``admin`` may open a page that declared ``role``; nothing declared: nobody."""
    if role == OPEN:
        return True
    if role == AdminRole.EDITOR:
        return admin.role in (AdminRole.EDITOR, AdminRole.ADMIN)
    return role == AdminRole.ADMIN and admin.role == AdminRole.ADMIN
