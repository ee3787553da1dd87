"""A small HTTP(S) server on loopback that serves canned responses and records the requests;
a resolver that makes a host name elsewhere point at it."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address, IPv6Address


@dataclass
class Response:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: Answer 304 when the request's If-None-Match carries this value.
    etag: str | None = None
    #: Answer 304 when the request's If-Modified-Since carries this value.
    last_modified: str | None = None
    #: Send nothing until the server stops (a server that never answers).
    hang: bool = False
    #: Without Content-Length the body simply runs until the connection closes.
    send_length: bool = True
    #: Seconds between single bytes: a server that trickles its answer.
    trickle: float | None = None
    #: With ``trickle``: trickle the status line and headers too, not only the body.
    trickle_headers: bool = False

    def unchanged_for(self, headers) -> bool:
        """Whether a conditional request with ``headers`` gets a 304."""
        etag, since = headers.get("If-None-Match"), headers.get("If-Modified-Since")
        etag_matches = self.etag is not None and etag == self.etag
        date_matches = self.last_modified is not None and since == self.last_modified
        return etag_matches or date_matches


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    method: str = "GET"
    body: bytes = b""
    #: Whether the whole answer was written (a client that hung up early leaves it False).
    answered: bool = False


class _Server(ThreadingHTTPServer):
    # Join the handler threads on close, so no thread outlives the test.
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            return  # a client that stopped reading (an oversized feed) or refused the certificate
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _TLSServer(_Server):
    tls: ssl.SSLContext

    def get_request(self):
        # The handshake happens in the handler's thread, on its first read: a client that
        # refuses the certificate holds up no other.
        connection, address = super().get_request()
        return self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), address


class HTTPServer:
    """Serves ``routes`` (path → :class:`Response`) on ``host`` (127.0.0.1, or ::1), over TLS with
    the ``tls`` context if given; unknown paths get a 404."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Response] = {}
        #: Answers given once each, in turn, before ``routes`` answers the path (a receiver that fails, then works).
        self.scripts: dict[str, list[Response]] = {}
        self.requests: list[Request] = []
        self.host = host
        self.scheme = "https" if tls else "http"
        self._stopping = threading.Event()
        server_class = _Server6 if ":" in host else _Server
        if tls is not None:
            server_class = type("TLSServer", (_TLSServer, server_class), {"tls": tls})
        self._server = server_class((host, 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str, host: str | None = None) -> str:
        """The URL of ``path`` here, by ``host`` if given (a name or an IP in any spelling)."""
        if host is None:
            host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{path}"

    def serve(self, path: str, body: bytes | str = b"", **options) -> str:
        """Answer GET ``path`` with ``body``; returns its URL."""
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Response(body=data, **options)
        return self.url(path)

    def answer(self, path: str, *responses: Response) -> str:
        """Answer requests to ``path`` with ``responses`` in turn, then as :meth:`serve` set it
        (or 200); returns its URL."""
        self.scripts[path] = list(responses)
        self.routes.setdefault(path, Response())
        return self.url(path)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(Request(self.path, dict(self.headers.items()), "POST", self.rfile.read(length)))

            def do_GET(self) -> None:
                self._answer(Request(self.path, dict(self.headers.items())))

            def _answer(self, request: Request) -> None:
                server.requests.append(request)
                script = server.scripts.get(self.path)
                if script:
                    response = script.pop(0)
                else:
                    response = server.routes.get(self.path, Response(b"not found", status=404))
                if response.hang:
                    server._stopping.wait()
                    return
                if response.unchanged_for(self.headers):
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(response.status)
                headers = dict(response.headers)
                if response.send_length:
                    headers.setdefault("Content-Length", str(len(response.body)))
                if response.etag is not None:
                    headers["ETag"] = response.etag
                if response.last_modified is not None:
                    headers["Last-Modified"] = response.last_modified
                for name, value in headers.items():
                    self.send_header(name, value)
                if response.trickle is not None:
                    self._trickle(response)
                else:
                    self.end_headers()
                    self.wfile.write(response.body)
                request.answered = not server._stopping.is_set()

            def _trickle(self, response: Response) -> None:
                self._headers_buffer.append(b"\r\n")
                head = b"".join(self._headers_buffer)
                self._headers_buffer = []
                if not response.trickle_headers:
                    self.wfile.write(head)
                    head = b""
                for byte in head + response.body:
                    if server._stopping.wait(response.trickle):
                        return
                    self.wfile.write(bytes([byte]))  # a client that hung up ends this (BrokenPipe)

            def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
                pass

        return Handler


class PublicLooking(IPv4Address):
    """A loopback address that address checks take for a public one: a host "elsewhere" that
    a test serves from loopback."""

    is_loopback = is_private = is_link_local = is_multicast = is_reserved = is_unspecified = False
    is_global = True


Address = IPv4Address | IPv6Address


class Resolver:
    """Stands in for a resolver ``(host, port) -> addresses``: answers the names given to
    :meth:`answer`, one answer per lookup (the last one repeated), and the rest like ``real``.
    ``lookups`` lists the names asked for."""

    def __init__(self, real: Callable[[str, int], list[Address]]) -> None:
        self._real = real
        self._answers: dict[str, list[list[Address]]] = {}
        self.lookups: list[str] = []

    def answer(self, host: str, *answers: Sequence[Address]) -> None:
        """Answer ``host`` with the first of ``answers``, the next lookup with the next, …"""
        self._answers[host] = [list(answer) for answer in answers]

    def __call__(self, host: str, port: int) -> list[Address]:
        self.lookups.append(host)
        answers = self._answers.get(host)
        if answers is None:
            return self._real(host, port)
        return answers.pop(0) if len(answers) > 1 else answers[0]
