from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, str_enum


class AdminRole(enum.StrEnum):
    """What an admin may do (SPEC §11)."""

    ADMIN = "admin"  #: everything
    EDITOR = "editor"  #: articles, feeds, digests incl. Send now; no subscriber data, no admins


class AdminUser(UserMixin, db.Model):
    """A person who may use /admin; the password is stored only as a hash.

    An invited admin has no password yet (``password_hash`` holds no hash, so no password
    matches) until they set one through the invitation's link.
    """

    __tablename__ = "admin_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    role: Mapped[AdminRole] = mapped_column(str_enum(AdminRole), default=AdminRole.ADMIN, server_default="admin")
    #: The TOTP secret (base32) once two-factor sign-in is on; None while it is off.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    #: The time step of the last TOTP code accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column()


class AdminSession(db.Model):
    """One signed-in browser of an admin, held on the server (:mod:`newsletter.adminsessions`).

    The signed session cookie carries a random id; only its SHA-256 is stored here, so a copy
    of the table opens no session. Ending a session deletes its row.
    """

    __tablename__ = "admin_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admin_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AdminRecoveryCode(db.Model):
    """A one-time code that signs an admin in when their authenticator is lost; only its
    SHA-256 is stored, and using it deletes the row."""

    __tablename__ = "admin_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admin_user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditEvent(db.Model):
    """One admin action that changed something (SPEC §11): who, when, what.

    The admin's address is copied, so the record still says who after the admin is removed.
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    admin_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id", ondelete="SET NULL"), index=True)
    admin_email: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64), index=True)
    #: What the action was done to, e.g. ``subscriber 12`` or ``digest 3``.
    target: Mapped[str | None] = mapped_column(String(255))
    #: Further particulars in plain words (e.g. ``editor -> admin``).
    detail: Mapped[str | None] = mapped_column(Text)
