"""Admin accounts: the password rules, creating or resetting an admin, checking a sign-in,
the team (invitations, roles, removal; never without an admin left).

Passwords are stored only as werkzeug hashes. Functions here flush but never commit.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from . import adminsessions, clock
from .delivery import queue
from .extensions import db
from .models import AdminRole, AdminUser, MailKind

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
#: Hashing a very long password costs time for nothing; longer ones are refused.
MAX_PASSWORD_LENGTH = 256

#: Passwords that are long enough yet among the first a password guesser tries.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "123456123456",
        "111111111111",
        "000000000000",
        "123123123123",
        "qwertyuiopas",
        "qwertzuiopas",
        "qwertyuiop123",
        "qwertzuiop123",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "password1234",
        "password12345",
        "passwort1234",
        "passwort12345",
        "passwordpassword",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "willkommen123",
        "administrator",
        "administrator1",
        "admin1234567",
        "adminadmin123",
        "changeme1234",
        "newsletter123",
        "newsletter1234",
        "abcdefghijkl",
        "abcdef123456",
        "abc123abc123",
        "trustno1trustno1",
        "football1234",
        "sommer2024!!",
    }
)


class WeakPassword(ValueError):
    """A password the service refuses; the message says why, in plain English."""


def password_problem(password: str, email: str) -> str | None:
    """Why ``password`` is too weak for the admin ``email``, or None if it is acceptable."""
    if not password or not password.strip():
        return "the password must not be empty"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"the password must have at most {MAX_PASSWORD_LENGTH} characters"
    folded = password.casefold()
    address = email.casefold()
    if address and (address in folded or folded == address.partition("@")[0]):
        return "the password must not be the email address"
    if folded in COMMON_PASSWORDS:
        return "this password is among the most common ones; choose another"
    if len(set(password)) < 4:
        return "the password repeats too few different characters"
    return None


@dataclass(frozen=True)
class Saved:
    admin: AdminUser
    created: bool


def find_by_email(email: str) -> AdminUser | None:
    return db.session.execute(select(AdminUser).filter_by(email=email)).scalar_one_or_none()


def create_or_reset(email: str, password: str, role: AdminRole | None = None) -> Saved:
    """Create the admin ``email`` or set a new password for it (and ``role``, if given; a new
    admin without one is an admin).

    A new password ends every session of the admin, on every client.

    :param email: normalised (lower-case) address.
    :raises WeakPassword: if :func:`password_problem` finds one; nothing is written then.
    :raises LastAdmin: if ``role`` would leave no admin; nothing is written then.
    """
    problem = password_problem(password, email)
    if problem:
        raise WeakPassword(problem)
    admin = find_by_email(email)
    if admin is not None and role is not None:
        change_role(admin, role)
    password_hash = generate_password_hash(password)
    created = admin is None
    if admin is None:
        admin = AdminUser(
            email=email, password_hash=password_hash, created_at=clock.now(), role=role or AdminRole.ADMIN
        )
        db.session.add(admin)
    else:
        admin.password_hash = password_hash
        adminsessions.end_all(admin)
    db.session.flush()
    logger.info("admin %r %s", admin.id, "created" if created else "password reset")
    return Saved(admin, created)


def set_password(admin: AdminUser, password: str) -> None:
    """The password an invited admin chose (through the set-password link, which it spends).

    :raises WeakPassword: if :func:`password_problem` finds one; nothing is written then.
    """
    problem = password_problem(password, admin.email)
    if problem:
        raise WeakPassword(problem)
    admin.password_hash = generate_password_hash(password)
    adminsessions.end_all(admin)
    db.session.flush()


class AlreadyAdmin(ValueError):
    """The address invited belongs to an admin already."""


class LastAdmin(ValueError):
    """The change would leave the service without an admin who can sign in."""


def invite(email: str, role: AdminRole, locale: str) -> AdminUser:
    """Create the admin ``email`` without a password and queue the invitation, whose link
    (made when the mail goes out) lets them choose one.

    :raises AlreadyAdmin: if the address belongs to an admin; nothing is written then.
    """
    if find_by_email(email) is not None:
        raise AlreadyAdmin(email)
    admin = AdminUser(email=email, password_hash="", created_at=clock.now(), role=role)
    db.session.add(admin)
    db.session.flush()
    queue.enqueue(MailKind.ADMIN_INVITE, None, to_address=email, context={"admin_id": admin.id, "locale": locale})
    logger.info("admin %r invited as %s", admin.id, role)
    return admin


def invited(admin: AdminUser) -> bool:
    """Whether the admin has not chosen a password yet."""
    return not admin.password_hash


def team() -> list[AdminUser]:
    return list(db.session.execute(select(AdminUser).order_by(AdminUser.email)).scalars())


def _admins_left_without(admin: AdminUser) -> int:
    """How many other admins (role admin, a password set) there are; their rows are locked
    on PostgreSQL, so two admins demoting each other at once cannot both succeed."""
    others = (
        select(AdminUser.id)
        .where(AdminUser.role == AdminRole.ADMIN, AdminUser.password_hash != "", AdminUser.id != admin.id)
        .with_for_update()
    )
    return db.session.execute(select(func.count()).select_from(others.subquery())).scalar_one()


def change_role(admin: AdminUser, role: AdminRole) -> bool:
    """Give ``admin`` the ``role``; whether it changed.

    :raises LastAdmin: if it would take the role admin from the last admin.
    """
    if admin.role == role:
        return False
    if admin.role == AdminRole.ADMIN and not invited(admin) and _admins_left_without(admin) == 0:
        raise LastAdmin(admin.email)
    admin.role = role
    db.session.flush()
    logger.info("admin %r is now %s", admin.id, role)
    return True


def remove(admin: AdminUser) -> None:
    """Delete the admin and their sessions (their audit records keep the address).

    :raises LastAdmin: if no other admin could sign in afterwards.
    """
    if admin.role == AdminRole.ADMIN and not invited(admin) and _admins_left_without(admin) == 0:
        raise LastAdmin(admin.email)
    db.session.delete(admin)
    db.session.flush()
    logger.info("admin %r removed", admin.id)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a random password, checked for unknown addresses so they take as long."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(email: str, password: str) -> AdminUser | None:
    """The admin with this address and password, or None.

    Unknown addresses cost one hash check as well, so the answer time does not tell whether
    an address belongs to an admin.
    """
    admin = find_by_email(email) if email else None
    if admin is None or len(password) > MAX_PASSWORD_LENGTH:
        check_password_hash(_dummy_hash(), password[:MAX_PASSWORD_LENGTH])
        return None
    if not check_password_hash(admin.password_hash, password):
        return None
    admin.last_login_at = clock.now()
    db.session.flush()
    return admin
