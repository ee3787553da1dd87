"""The admin login throttle: guessing is held back, the admin is never locked out by others.

Every sign-in whose password gets checked is an :class:`~newsletter.models.AdminLoginAttempt`
row until it succeeds (then the client's rows for that address go). Within each limit's window
(RATELIMIT_ADMIN_LOGIN_IP, RATELIMIT_ADMIN_LOGIN_EMAIL; counted on :mod:`newsletter.clock`):

- a client may fail RATELIMIT_ADMIN_LOGIN_IP times, whatever the addresses;
- a client may fail RATELIMIT_ADMIN_LOGIN_EMAIL times for one address;
- once an address has failed that many times from all clients together, a client that has
  failed for it itself gets no further try: a guess spread over many clients is slowed to one
  guess per client, while a client without failures of its own is still let in with the right
  password. So nobody can lock the admin out from elsewhere.

A client is its IPv4 address or its IPv6 /64 (one subscriber line). The throttle lives in the
database, so it holds across web workers and processes, and RATELIMIT_ENABLED does not switch
it off: it guards the admin area, it is no courtesy limit of the public forms. Counting does not
depend on whether the address belongs to an admin, so neither does the answer. Functions here
flush but never commit.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, case, delete, func, or_, select, update

from . import addresscap, clock, txlock
from .extensions import db
from .models import AdminLoginAttempt
from .settings import Limit, parse_limit

logger = logging.getLogger(__name__)

CLIENT_LIMIT = "RATELIMIT_ADMIN_LOGIN_IP"
ADDRESS_LIMIT = "RATELIMIT_ADMIN_LOGIN_EMAIL"


def _limit(key: str) -> Limit:
    return parse_limit(current_app.config[key])


def client_of(ip: str | None) -> str:
    """Who counts as one client: an IPv4 address, or the /64 an IPv6 address lies in."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return "unknown"
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def _keys(email: str, ip: str | None) -> tuple[str, str]:
    return (
        addresscap.address_hash("admin-login-client", client_of(ip)),
        addresscap.address_hash("admin-login-address", email),
    )


def _refused(client_hash: str, address_hash: str) -> bool:
    """Whether a sign-in from the client for the address has to wait, counting every attempt
    in the windows (those still being checked too)."""
    per_client, per_address = _limit(CLIENT_LIMIT), _limit(ADDRESS_LIMIT)
    now = clock.now()
    client_since, address_since = now - per_client.window, now - per_address.window
    mine = AdminLoginAttempt.client_hash == client_hash
    this_address = AdminLoginAttempt.address_hash == address_hash
    recent = AdminLoginAttempt.at > address_since

    def counted(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    by_client, by_pair, pair_failed, by_address = db.session.execute(
        select(
            counted(mine & (AdminLoginAttempt.at > client_since)),
            counted(mine & this_address & recent),
            counted(mine & this_address & recent & AdminLoginAttempt.failed),
            counted(this_address & recent),
        ).where(or_(and_(mine, AdminLoginAttempt.at > client_since), and_(this_address, recent)))
    ).one()
    if by_client >= per_client.amount or by_pair >= per_address.amount:
        return True
    return by_address >= per_address.amount and pair_failed > 0


def admit(email: str, ip: str | None) -> AdminLoginAttempt | None:
    """Count a sign-in for ``email`` from ``ip`` whose password is about to be checked, or
    ``None`` when it has to wait (then nothing is counted).

    The client's and the address's locks (:mod:`newsletter.txlock`) are held from the count to
    the caller's commit, which comes before the password is checked: requests sent side by
    side are admitted one after the other, so they never get more tries than the limits
    together, nor all refuse each other.
    """
    client_hash, address_hash = _keys(email, ip)
    txlock.hold(client_hash, address_hash)
    if _refused(client_hash, address_hash):
        return None
    attempt = AdminLoginAttempt(client_hash=client_hash, address_hash=address_hash, at=clock.now(), failed=False)
    db.session.add(attempt)
    db.session.flush()
    return attempt


def failed(attempt: AdminLoginAttempt) -> None:
    """The password was wrong: the attempt counts as a failure of its client."""
    db.session.execute(update(AdminLoginAttempt).where(AdminLoginAttempt.id == attempt.id).values(failed=True))
    per_address = _limit(ADDRESS_LIMIT)
    failures = db.session.execute(
        select(func.count()).where(
            AdminLoginAttempt.address_hash == attempt.address_hash,
            AdminLoginAttempt.failed.is_(True),
            AdminLoginAttempt.at > clock.now() - per_address.window,
        )
    ).scalar_one()
    if failures == per_address.amount:
        logger.warning(
            "admin sign-in: %r failed passwords for one address within %s; clients that failed are held back",
            failures,
            per_address.window,
        )


def succeeded(attempt: AdminLoginAttempt) -> None:
    """The password was right: the client's failures for this address no longer count."""
    db.session.execute(
        delete(AdminLoginAttempt).where(
            AdminLoginAttempt.client_hash == attempt.client_hash,
            AdminLoginAttempt.address_hash == attempt.address_hash,
        )
    )


def forget_old(now: datetime) -> int:
    """Delete the attempts outside every window; how many went."""
    window = max(_limit(CLIENT_LIMIT).window, _limit(ADDRESS_LIMIT).window)
    return db.session.execute(delete(AdminLoginAttempt).where(AdminLoginAttempt.at <= now - window)).rowcount
