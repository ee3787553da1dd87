"""HTTP(S) connections to servers elsewhere, as a hostile network allows them (feed fetching).

A URL from outside (a feed address, a redirect) may name any host. Every connection made
through :class:`HTTPHandler` and :class:`HTTPSHandler`:

- looks its host up once (:func:`resolve`, the seam tests replace), refuses it when any of its
  addresses is loopback, private, link-local, multicast, reserved, unspecified or otherwise not
  reachable from the internet (:func:`refusal`; unless :attr:`Limits.allow_private`), and
  connects to an address it checked, so a second lookup (DNS rebinding) never decides where it
  goes. The Host header, TLS SNI and the certificate check keep the host's name;
- bounds every step (connecting, the TLS handshake, every read) by the socket timeout and by
  one deadline for the whole exchange, redirects included: a server that trickles a byte at a
  time cannot hold the caller past :attr:`Limits.deadline`.

No proxy from the environment is used: a proxy would look the host up itself, past the check.
"""

from __future__ import annotations

import functools
import http.client
import io
import re
import socket
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TypeVar

Address = IPv4Address | IPv6Address
T = TypeVar("T")

#: The setting that lets connections reach the addresses refused here (the message names it).
SWITCH = "FEED_ALLOW_PRIVATE_NETWORKS"

#: Kinds of address refused, by the ipaddress property that tells them, asked in this order
#: (0.0.0.0 and 240.0.0.1 are private too; the narrower name says more).
_KIND_TESTS = (
    ("unspecified", "is_unspecified"),
    ("loopback", "is_loopback"),
    ("link-local", "is_link_local"),
    ("multicast", "is_multicast"),
    ("reserved", "is_reserved"),
    ("private", "is_private"),
)
#: How a refusal names each kind (English; the admin shows it translated, see labels).
KIND_NAMES = {
    "unspecified": "the unspecified address",
    "loopback": "a loopback address",
    "link-local": "a link-local address",
    "multicast": "a multicast address",
    "reserved": "a reserved address",
    "private": "a private address",
    "not-public": "an address not reachable from the internet",
}
_KINDS_BY_NAME = {name: kind for kind, name in KIND_NAMES.items()}
_REFUSED_TEXT = re.compile(
    rf"refused to connect to (?:(?P<host>\S+?) at )?(?P<address>\S+?): (?P<name>.+) \({SWITCH} is off\)"
)


class Refused(Exception):
    """``host`` has an address of a kind that may not be reached; ``str()`` says which and why."""

    def __init__(self, host: str, address: str, kind: str) -> None:
        super().__init__(host, address, kind)
        self.host, self.address, self.kind = host, address, kind

    def __str__(self) -> str:
        return f"refused to connect to {self.where}: {KIND_NAMES[self.kind]} ({SWITCH} is off)"

    @property
    def where(self) -> str:
        """The address, and the host's name where the host was not given as that address."""
        return self.address if self.host == self.address else f"{self.host} at {self.address}"

    @classmethod
    def from_text(cls, text: str | None) -> Refused | None:
        """The refusal whose ``str()`` is ``text`` (as a feed's last result keeps it); else None."""
        match = _REFUSED_TEXT.fullmatch(text or "")
        if match is None or match["name"] not in _KINDS_BY_NAME:
            return None
        host = match["host"] or match["address"]
        return cls(host, match["address"], _KINDS_BY_NAME[match["name"]])


class DeadlinePassed(TimeoutError):
    """The exchange ran into :attr:`Limits.deadline` (not a single step into its timeout)."""


def resolve(host: str, port: int) -> list[Address]:
    """Every address of ``host``, as the system resolver answers (an IP in any spelling, the
    decimal 2130706433 too, is its own address)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ip_address(info[4][0]) for info in infos))


def refusal(address: Address) -> str | None:
    """The kind of ``address`` (a key of :data:`KIND_NAMES`) when it is not a public one."""
    judged = _unmapped(address)
    for kind, test in _KIND_TESTS:
        if getattr(judged, test):
            return kind
    return None if judged.is_global else "not-public"


def refusal_without_lookup(host: str) -> Refused | None:
    """The refusal of a host that is an address itself (in any spelling the resolver reads as
    one: ``2130706433``, ``127.1``, ``[::1]``) or a ``localhost`` name (RFC 6761), found without
    asking DNS, so it can be said while an admin types; None for any other name, whose
    addresses :meth:`Limits.connect` checks at every connection."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return Refused(host, "127.0.0.1", "loopback")
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    for info in infos:
        address = _unmapped(ip_address(info[4][0]))
        kind = refusal(address)
        if kind is not None:
            return Refused(host, str(address), kind)
    return None


def _unmapped(address: Address) -> Address:
    # ::ffff:127.0.0.1 reaches 127.0.0.1; before Python 3.13 ipaddress does not say so.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class Limits:
    """What the connections of one exchange may do."""

    #: Whether addresses :func:`refusal` names may be reached.
    allow_private: bool
    #: Seconds one step (connecting, the handshake, one read) may wait.
    timeout: float
    #: ``time.monotonic()`` by which the whole exchange ends, however the bytes trickle.
    deadline: float

    def connect(self, host: str, port: int) -> socket.socket:
        """A socket connected to a checked address of ``host``, which is looked up once.

        :raises Refused: if any address of ``host`` may not be reached.
        """
        addresses = resolve(host, port)
        if not self.allow_private:
            for address in addresses:
                kind = refusal(address)
                if kind is not None:
                    raise Refused(host, str(_unmapped(address)), kind)
        error: OSError = OSError(f"{host} has no address")
        for address in addresses:
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                self.bounded(sock, functools.partial(sock.connect, (str(address), port)))
                return sock
            except DeadlinePassed:
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                error = exc
        raise error

    def bounded(self, sock: socket.socket, step: Callable[[], T]) -> T:
        """Run ``step`` on ``sock`` within the timeout and what is left before the deadline.

        :raises DeadlinePassed: if the deadline has passed or passes during ``step``.
        """
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlinePassed
        sock.settimeout(min(self.timeout, left))
        try:
            return step()
        except TimeoutError:
            if left < self.timeout:  # the deadline, not the step's timeout, ran out
                raise DeadlinePassed from None
            raise


def opener(limits: Limits, *handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """An opener that speaks http and https only (no file:, ftp: or data: handlers), connects
    as ``limits`` allow, through no proxy, and follows redirects only with a handler given."""
    director = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.UnknownHandler(),
        HTTPHandler(limits),
        HTTPSHandler(limits),
        urllib.request.HTTPDefaultErrorHandler(),
        *handlers,
        urllib.request.HTTPErrorProcessor(),
    ):
        director.add_handler(handler)
    return director


class HTTPHandler(urllib.request.HTTPHandler):
    """urllib's http handler, connecting as ``limits`` allow."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self._limits = limits

    def http_open(self, req):
        return self.do_open(functools.partial(_HTTPConnection, limits=self._limits), req)


class HTTPSHandler(urllib.request.HTTPSHandler):
    """urllib's https handler, connecting as ``limits`` allow."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self._limits = limits

    def https_open(self, req):
        connection = functools.partial(_HTTPSConnection, limits=self._limits)
        return self.do_open(connection, req, context=self._context)


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, limits: Limits, **options) -> None:
        super().__init__(host, **options)
        self._limits = limits
        # http.client's connect() (audit event, TCP_NODELAY) opens the socket through this.
        self._create_connection = lambda address, *_: limits.connect(*address)
        self.response_class = functools.partial(_Response, limits=limits)


class _HTTPSConnection(_HTTPConnection, http.client.HTTPSConnection):
    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        # SNI and the certificate check are on the host's name, whatever address was dialled.
        wrap = functools.partial(self._context.wrap_socket, self.sock, server_hostname=self.host)
        self.sock = self._limits.bounded(self.sock, wrap)


class _Response(http.client.HTTPResponse):
    """A response whose every read (status line, headers, body) is bounded by ``limits``."""

    def __init__(self, sock: socket.socket, *args, limits: Limits, **kwargs) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp.close()  # the unbounded reader http.client made; ours reads the same socket
        self.fp = io.BufferedReader(_BoundedReader(sock, limits))


class _BoundedReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, limits: Limits) -> None:
        self._sock = sock
        # A file of the socket keeps it open after the connection lets go of it, as http.client expects.
        self._file = sock.makefile("rb", buffering=0)
        self._limits = limits

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._limits.bounded(self._sock, functools.partial(self._file.readinto, buffer))

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()
