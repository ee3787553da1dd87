"""The consent wording the sign-up shows, kept per process (issue 16).

Every page with the sign-up form and every sign-up needs the stored version of a statement
(its id and SHA-256). A stored version never changes (its SHA-256 names its text), so each
process keeps what it has read, per app, keyed by that SHA-256: a changed statement
(CONSENT_TEXT, a translation) has another digest and is looked up afresh. A page view then
reads nothing from the database (on SQLite it no longer takes the write lock), and a sign-up
writes only its request.

``last_shown_at`` is still moved forward within :data:`consent.LAST_SHOWN_PRECISION`: a
process that has not done so for that long reads the version again and moves it, in the
caller's transaction; what it read is kept once that transaction has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from . import clock, consent
from .evidence import text_sha256
from .extensions import db
from .models import ConsentText


@dataclass(frozen=True)
class Wording:
    """A stored version of a consent statement, detached from any session."""

    id: int
    sha256: str
    language: str
    text: str

    @classmethod
    def of(cls, version: ConsentText) -> Wording:
        return cls(id=version.id, sha256=version.sha256, language=version.language, text=version.text)


@dataclass(frozen=True)
class _Kept:
    wording: Wording
    noted_at: datetime  # when this process last read or moved its last_shown_at


def _kept() -> dict[str, _Kept]:
    return current_app.extensions.setdefault("newsletter.wordings", {})


def current(language: str) -> Wording:
    """The stored version of the statement the form shows now in ``language``, created when
    first shown (the caller commits)."""
    digest = text_sha256(consent.statement(language))
    now = clock.now()
    kept = _kept().get(digest)
    if kept is not None and now - kept.noted_at < consent.LAST_SHOWN_PRECISION:
        return kept.wording
    wording = Wording.of(consent.text_version(language))
    # Kept once the caller's transaction commits: a version created (or moved) in one that
    # rolls back must not be named by the next sign-up.
    db.session.info.setdefault(_TO_KEEP, []).append((_kept(), digest, _Kept(wording, now)))
    return wording


_TO_KEEP = "newsletter.wordings_to_keep"


@event.listens_for(Session, "after_commit")
def _keep_committed(session: Session) -> None:
    for store, digest, kept in session.info.pop(_TO_KEEP, ()):
        store[digest] = kept


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_TO_KEEP, None)


def find(sha256: str) -> Wording | None:
    """The stored version whose SHA-256 is ``sha256``, if there is one."""
    kept = _kept().get(sha256)
    if kept is not None:
        return kept.wording
    version = consent.find_text_version(sha256)
    if version is None:
        return None
    wording = Wording.of(version)
    _kept()[sha256] = _Kept(wording, version.last_shown_at)
    return wording


def is_current(sha256: str, language: str) -> bool:
    """Whether ``sha256`` names the statement the form shows now in ``language``."""
    return sha256 == text_sha256(consent.statement(language))
