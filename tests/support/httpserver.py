"""A small HTTP server on loopback that serves canned responses and records the requests."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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


class _Server(ThreadingHTTPServer):
    # Join the handler threads on close, so no thread outlives the test.
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that stopped reading, e.g. after refusing an oversized feed
        super().handle_error(request, client_address)


class HTTPServer:
    """Serves ``routes`` (path → :class:`Response`) on 127.0.0.1; unknown paths get a 404."""

    def __init__(self) -> None:
        self.routes: dict[str, Response] = {}
        self.requests: list[Request] = []
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes | str = b"", **options) -> str:
        """Answer GET ``path`` with ``body``; returns its URL."""
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Response(body=data, **options)
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
            def do_GET(self) -> None:
                server.requests.append(Request(self.path, dict(self.headers.items())))
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
                self.end_headers()
                self.wfile.write(response.body)

            def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
                pass

        return Handler
