"""Two-factor sign-in for admins (SPEC §11): TOTP (RFC 6238, pyotp) and recovery codes.

An admin turns it on by scanning the QR code (drawn here as SVG, nothing fetched elsewhere)
and entering a code, which proves the authenticator has the secret; they then get
:data:`RECOVERY_CODES` recovery codes, shown once and stored only as SHA-256. A TOTP code is
accepted once (the time step used is kept), a recovery code once (its row is deleted).
Functions here flush but never commit.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

import pyotp
from markupsafe import Markup
from sqlalchemy import delete, or_, select, update

from . import clock
from .extensions import db
from .models import AdminRecoveryCode, AdminUser

logger = logging.getLogger(__name__)

RECOVERY_CODES = 10
#: Codes of the step before and after the current one are accepted too (clocks drift).
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, issuer: str) -> str:
    """What the QR code holds: ``otpauth://totp/…`` for authenticator apps."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str) -> Markup:
    """The QR code of ``uri`` as inline SVG (paths only, no text from outside)."""
    import segno  # here, not above: only this page draws QR codes, and importing costs every process 20 ms

    return Markup(segno.make(uri, error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff"))


def _matching_step(secret: str, code: str, after: int | None) -> int | None:
    """The time step (within the drift) whose code is ``code`` and is later than ``after``."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(clock.now().timestamp()) // totp.interval
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def enable(admin: AdminUser, secret: str, code: str) -> list[str] | None:
    """Turn two-factor sign-in on with ``secret`` if ``code`` is its current code; the new
    recovery codes (to be shown once), or None if the code is wrong."""
    step = _matching_step(secret, code, None)
    if step is None:
        return None
    admin.totp_secret = secret
    admin.totp_last_step = step
    logger.info("admin %r turned two-factor sign-in on", admin.id)
    return new_recovery_codes(admin)


def disable(admin: AdminUser) -> None:
    admin.totp_secret = None
    admin.totp_last_step = None
    db.session.execute(delete(AdminRecoveryCode).where(AdminRecoveryCode.admin_id == admin.id))
    db.session.flush()
    logger.info("admin %r turned two-factor sign-in off", admin.id)


def new_recovery_codes(admin: AdminUser) -> list[str]:
    """Replace the admin's recovery codes with fresh ones; the codes, to be shown once."""
    db.session.execute(delete(AdminRecoveryCode).where(AdminRecoveryCode.admin_id == admin.id))
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    db.session.add_all(AdminRecoveryCode(admin_id=admin.id, code_hash=_hash(code)) for code in codes)
    db.session.flush()
    return codes


def remaining_recovery_codes(admin: AdminUser) -> int:
    return len(db.session.execute(select(AdminRecoveryCode.id).filter_by(admin_id=admin.id)).all())


def _hash(code: str) -> str:
    normal = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normal.encode()).hexdigest()


def verify(admin: AdminUser, code: str) -> bool:
    """Whether ``code`` is the admin's current TOTP code (not used before) or one of their
    recovery codes, which it then spends."""
    if admin.totp_secret is None or len(code) > 64:
        return False
    step = _matching_step(admin.totp_secret, code, admin.totp_last_step)
    if step is not None:
        # Taken in one statement, so two sign-ins sending the same code cannot both pass.
        taken = db.session.execute(
            update(AdminUser)
            .where(AdminUser.id == admin.id)
            .where(or_(AdminUser.totp_last_step.is_(None), AdminUser.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session="fetch")
        ).rowcount
        return bool(taken)
    spent = db.session.execute(
        delete(AdminRecoveryCode).where(
            AdminRecoveryCode.admin_id == admin.id, AdminRecoveryCode.code_hash == _hash(code)
        )
    ).rowcount
    if spent:
        logger.info("admin %r signed in with a recovery code", admin.id)
    return bool(spent)
