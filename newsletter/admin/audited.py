"""Writing down what the signed-in admin changed (:mod:`newsletter.audit`), in the view's
transaction, before its commit."""

from __future__ import annotations

from flask_login import current_user

from .. import audit


def note(action: str, target: str | None = None, detail: str | None = None) -> None:
    """Record that the signed-in admin did ``action`` to ``target``."""
    audit.record(current_user._get_current_object(), action, target, detail)
