"""An SMTP relay on loopback that says exactly what a test scripts, however wrong.

The aiosmtpd relay of :mod:`tests.support.smtp` speaks correct SMTP; this one plays a broken
relay or a man in the middle: the reply to each command given byte for byte (an over-long
line, a multi-line reply whose lines carry different codes), and bytes sent in plain text
right after its 220 to STARTTLS, before TLS begins. It runs an asyncio server on a thread of
its own and records every session: the commands received, each message's DATA as it came over
the wire, and whether the client ended the session with QUIT or dropped the connection.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass, field

#: The reply to each command by verb ("GREETING" on connecting, "." to the end of DATA),
#: where the script gives none.
DEFAULT_REPLIES = {
    "GREETING": b"220 relay.test ESMTP\r\n",
    "EHLO": b"250-relay.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    "STARTTLS": b"220 2.0.0 ready to start TLS\r\n",
    "MAIL": b"250 2.1.0 ok\r\n",
    "RCPT": b"250 2.1.5 ok\r\n",
    "DATA": b"354 end data with <CR><LF>.<CR><LF>\r\n",
    ".": b"250 2.0.0 queued\r\n",
    "RSET": b"250 2.0.0 ok\r\n",
    "NOOP": b"250 2.0.0 ok\r\n",
    "QUIT": b"221 2.0.0 bye\r\n",
}


@dataclass
class Session:
    #: every command line received, without its CRLF; the end of a message's DATA as "."
    commands: list[str] = field(default_factory=list)
    #: each message's DATA as it came over the wire, without the final dot line
    messages: list[bytes] = field(default_factory=list)
    #: "quit" once the client said QUIT, "dropped" when it went without (closed, reset, or
    #: gave up on the TLS handshake); None while the session lasts
    ended: str | None = None

    @property
    def verbs(self) -> list[str]:
        return [command.split(" ", 1)[0].upper() for command in self.commands]


class ScriptedRelay:
    def __init__(
        self,
        *,
        replies: dict[str, bytes] | None = None,
        starttls: ssl.SSLContext | None = None,
        after_starttls: bytes = b"",
    ) -> None:
        """``replies`` replace :data:`DEFAULT_REPLIES` by verb; ``starttls`` (a server
        context) offers STARTTLS in EHLO (inserted after the reply's first line) until TLS
        runs; ``after_starttls`` is written in plain text right behind the 220 to STARTTLS, in
        the same write, as a man in the middle would inject it."""
        self.replies = DEFAULT_REPLIES | (replies or {})
        self.starttls = starttls
        self.after_starttls = after_starttls
        self.sessions: list[Session] = []
        self.port = 0
        self._changed = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        listening = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self._thread = threading.Thread(target=self._loop.run_forever, name="scripted-relay", daemon=True)
        self._thread.start()
        listening.result(timeout=10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    async def _shutdown(self) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def wait_until_ended(self, sessions: int, timeout: float = 10.0) -> list[Session]:
        """Block until ``sessions`` sessions began and every one has ended (the client's
        close reaches the relay a moment after the client has moved on); the timeout only
        keeps a broken test from hanging."""

        def done() -> bool:
            return len(self.sessions) >= sessions and all(session.ended for session in self.sessions)

        with self._changed:
            assert self._changed.wait_for(done, timeout), f"sessions still open: {self.sessions}"
        return self.sessions

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())
        session = Session()
        with self._changed:
            self.sessions.append(session)
        ended = "dropped"
        try:
            ended = await self._converse(session, reader, writer)
        except (OSError, EOFError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            with self._changed:
                session.ended = ended
                self._changed.notify_all()
            self._tasks.discard(asyncio.current_task())

    async def _converse(self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """Answer commands as scripted; how the session ended."""
        writer.write(self.replies["GREETING"])
        in_tls = False
        while line := await reader.readline():
            command = line.rstrip(b"\r\n").decode("ascii", "replace")
            session.commands.append(command)
            verb = command.split(" ", 1)[0].upper()
            reply = self.replies.get(verb, b"500 5.5.2 command not recognised\r\n")
            if verb == "EHLO" and self.starttls is not None and not in_tls:
                first, _, rest = reply.partition(b"\r\n")
                reply = first + b"\r\n250-STARTTLS\r\n" + rest
            if verb == "STARTTLS" and self.starttls is not None and not in_tls:
                writer.write(reply + self.after_starttls)
                await writer.start_tls(self.starttls, ssl_handshake_timeout=10)
                in_tls = True
                continue
            writer.write(reply)
            if verb == "QUIT":
                await writer.drain()
                return "quit"
            if verb == "DATA" and reply.startswith(b"354"):
                session.messages.append(await _data(reader))
                session.commands.append(".")
                writer.write(self.replies["."])
        return "dropped"


async def _data(reader: asyncio.StreamReader) -> bytes:
    """A message's DATA up to its final dot line, as it came over the wire."""
    lines = []
    while (line := await reader.readline()) != b".\r\n":
        if not line:
            raise EOFError("the client went away during DATA")
        lines.append(line)
    return b"".join(lines)
