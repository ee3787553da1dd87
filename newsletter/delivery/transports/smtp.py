"""SMTP to a relay, on the sender's event loop: STARTTLS or SMTPS, AUTH PLAIN/LOGIN,
PIPELINING where offered; each reply classified as a :mod:`.base` refusal."""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import re
import socket
import ssl

from ..compose import RawMail
from .base import BeforeHandover, ConnectionFailure, DeliveryError, PermanentFailure, TemporaryFailure

#: The longest reply line read, its CRLF included (smtplib's limit; RFC 5321 §4.5.3.1.5 asks
#: for 512), and the most lines of one reply: beyond either the reply is broken.
MAX_REPLY_LINE = 8192
MAX_REPLY_LINES = 100
#: What may follow a reply line's code: "-" (more lines follow), " " and text, or the line end.
_AFTER_CODE = (b"-", b" ", b"\r", b"\n")


def _classify(code: int, text: bytes | str) -> DeliveryError:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    reply = f"{code} {text}".strip()
    return PermanentFailure(reply) if 500 <= code < 600 else TemporaryFailure(reply)


class SMTPConnection:
    """One SMTP session on the sender's event loop, opened on first use and reused for every
    following message.

    Where the relay offers PIPELINING (RFC 2920) the envelope and DATA go in one write, so
    a message costs two round trips instead of four. The message is handed over only with
    its final dot; ``before_handover`` is awaited right before that, while everything else of
    the transaction has already crossed the wire (the sender waits there for the previous
    message's outcome to be stored, which keeps a crash from repeating more than one). If it
    raises, the connection is closed without the dot, so the relay discards the message.
    MAIL_TIMEOUT bounds every wait for the relay, but not that one.
    """

    def __init__(self, config) -> None:
        self._config = config
        self._timeout = config["MAIL_TIMEOUT"]
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pipelining = False

    async def send(self, mail: RawMail, before_handover: BeforeHandover | None = None) -> None:
        try:
            if self._writer is None:
                async with asyncio.timeout(self._timeout):
                    await self._open()
            await self._transaction(mail, before_handover)
        except ConnectionFailure:
            await self._drop()
            raise
        except DeliveryError:  # this message was refused; the session goes on
            await self._reset()
            raise
        except (TimeoutError, OSError, EOFError) as exc:
            await self._drop()
            raise ConnectionFailure(f"connection: {exc!r}") from exc

    async def _open(self) -> None:
        c = self._config
        host, port = c["MAIL_SERVER"], c["MAIL_PORT"]
        secure = ssl.create_default_context() if c["MAIL_USE_SSL"] or c["MAIL_USE_TLS"] else None
        self._reader, self._writer = await asyncio.open_connection(
            host, port, ssl=secure if c["MAIL_USE_SSL"] else None, limit=MAX_REPLY_LINE - 1
        )
        # asyncio sets TCP_NODELAY itself: the final dot, a small write right after the
        # message, is not held back for the relay's delayed ACK.
        await self._expect(220)
        extensions = await self._ehlo()
        if c["MAIL_USE_TLS"]:  # never together with MAIL_USE_SSL (settings.validate)
            if "starttls" not in extensions:
                raise ConnectionFailure("the relay does not offer STARTTLS (MAIL_USE_TLS)")
            self._write(b"STARTTLS\r\n")
            await self._expect(220)
            # Bytes behind the 220 came in plain text, from anybody on the path: read inside TLS
            # they would shift every later reply by one. (Bytes arriving later fail the handshake.)
            if await _holds_more(self._reader):
                raise ConnectionFailure("the relay sent more after its 220 to STARTTLS (injected?)")
            await self._writer.start_tls(secure, server_hostname=host)
            extensions = await self._ehlo()
        if c.get("MAIL_USERNAME"):
            await self._login(extensions, c["MAIL_USERNAME"], c.get("MAIL_PASSWORD") or "")
        self._pipelining = "pipelining" in extensions

    async def _ehlo(self) -> dict[str, str]:
        """EHLO; the relay's extensions by lower-case keyword, with their parameters."""
        self._write(f"EHLO {_ehlo_name(self._writer.get_extra_info('sockname'))}\r\n".encode("ascii"))
        code, text = await self._reply()
        if code != 250:
            raise ConnectionFailure(f"EHLO refused: {code} {text!r}")
        extensions = {}
        for line in text.splitlines()[1:]:
            keyword, _, parameters = line.partition(" ")
            extensions[keyword.lower()] = parameters
        return extensions

    async def _login(self, extensions: dict[str, str], username: str, password: str) -> None:
        """AUTH PLAIN, or LOGIN where only that is offered (RFC 4954); a refusal means the
        relay cannot be used now, which holds the mail back rather than bouncing anybody."""
        mechanisms = extensions.get("auth", "").upper().split()
        if "PLAIN" in mechanisms:
            token = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
            self._write(f"AUTH PLAIN {token}\r\n".encode("ascii"))
        elif "LOGIN" in mechanisms:
            self._write(b"AUTH LOGIN\r\n")
            await self._expect(334)
            self._write(base64.b64encode(username.encode()) + b"\r\n")
            await self._expect(334)
            self._write(base64.b64encode(password.encode()) + b"\r\n")
        else:
            raise ConnectionFailure(f"the relay offers no AUTH PLAIN or LOGIN: {mechanisms}")
        await self._expect(235)

    async def _transaction(self, mail: RawMail, before_handover) -> None:
        commands = [f"MAIL FROM:<{mail.sender}>\r\n", f"RCPT TO:<{mail.recipient}>\r\n", "DATA\r\n"]
        async with asyncio.timeout(self._timeout):
            if self._pipelining:
                self._write("".join(commands).encode("ascii"))
                replies = [await self._reply() for _ in commands]
            else:
                replies = []
                for command in commands:
                    self._write(command.encode("ascii"))
                    replies.append(await self._reply())
                    if replies[-1][0] >= 400:
                        break
            (mail_code, mail_text), *rest = replies
            for code, text in replies:
                if code == 421:  # the relay is closing the session
                    raise ConnectionFailure(f"421 {text!r}")
            if mail_code >= 400:  # the relay refuses our sender: nothing can go now
                raise ConnectionFailure(f"sender refused: {mail_code} {mail_text!r}")
            (rcpt_code, rcpt_text), *data_reply = rest
            if rcpt_code >= 400:
                if data_reply and data_reply[0][0] == 354:  # a relay that opened DATA anyway: close it empty
                    self._write(b".\r\n")
                    await self._reply()
                raise _classify(rcpt_code, rcpt_text)
            data_code, data_text = data_reply[0]
            if data_code != 354:
                raise _classify(data_code, data_text)
            self._write(_dot_stuffed(mail.data, mail.crlf_only))
            await self._writer.drain()
        if before_handover is not None:
            try:
                await before_handover()
            except BaseException:
                # Closed before its final dot, the message is not delivered (RFC 5321 §4.1.1.4).
                await self._drop()
                raise
        async with asyncio.timeout(self._timeout):
            self._write(b".\r\n")
            code, text = await self._reply()
        if code == 421:
            raise ConnectionFailure(f"421 {text!r}")
        if code != 250:
            raise _classify(code, text)

    def _write(self, data: bytes) -> None:
        self._writer.write(data)

    async def _reply(self) -> tuple[int, str]:
        """One reply, all its lines: (code, text with the lines joined by newlines).

        A reply that breaks RFC 5321 §4.2 (no code, a line longer than MAX_REPLY_LINE, more
        than MAX_REPLY_LINES lines, lines with different codes) is a ConnectionFailure: what
        the relay says after it cannot be trusted either, so the connection ends."""
        lines = []
        code = None
        while True:
            try:
                line = await self._reader.readline()
            except ValueError:  # the reader's limit
                raise ConnectionFailure(f"a reply line longer than {MAX_REPLY_LINE} bytes") from None
            if not line.endswith(b"\n"):
                raise ConnectionFailure("the relay closed the connection")
            if code is None:
                code = line[:3]
                if not (code.isdigit() and b"2" <= code[:1] <= b"5"):
                    raise ConnectionFailure(f"unreadable reply {line[:80]!r}")
            elif line[:3] != code:
                raise ConnectionFailure(f"a reply whose lines carry different codes: {code!r}, {line[:80]!r}")
            if line[3:4] not in _AFTER_CODE:
                raise ConnectionFailure(f"unreadable reply {line[:80]!r}")
            lines.append(line[4:].strip().decode("utf-8", "replace"))
            if line[3:4] != b"-":
                return int(code), "\n".join(lines)
            if len(lines) == MAX_REPLY_LINES:
                raise ConnectionFailure(f"a reply of more than {MAX_REPLY_LINES} lines")

    async def _expect(self, wanted: int) -> None:
        code, text = await self._reply()
        if code != wanted:
            raise ConnectionFailure(f"{code} {text!r}")

    async def _reset(self) -> None:
        """After a refused transaction, make the session ready for the next message."""
        try:
            async with asyncio.timeout(self._timeout):
                self._write(b"RSET\r\n")
                await self._expect(250)
        except (ConnectionFailure, TimeoutError, OSError):
            await self._drop()

    async def close(self) -> None:
        if self._writer is None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                self._write(b"QUIT\r\n")
                await self._reply()
        except (ConnectionFailure, TimeoutError, OSError):
            pass
        await self._drop()

    async def _drop(self) -> None:
        """Close the session's connection (TLS too, with its goodbye) and forget it."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is None:
            return
        writer.close()
        try:
            async with asyncio.timeout(min(self._timeout, 5)):
                await writer.wait_closed()
        except Exception:  # the connection is broken already, or the relay does not answer
            writer.transport.abort()


def _ehlo_name(sockname) -> str:
    """The name this host gives in EHLO (RFC 5321 §4.1.4): its FQDN, else an address literal
    of the connection's own end (as smtplib does, but the address the relay really sees)."""
    name = _fqdn()
    if name.isascii() and "." in name:
        return name
    address = ipaddress.ip_address(sockname[0]) if sockname else ipaddress.ip_address("127.0.0.1")
    return f"[IPv6:{address}]" if address.version == 6 else f"[{address}]"


@functools.cache
def _fqdn() -> str:
    return socket.getfqdn()


async def _holds_more(reader: asyncio.StreamReader) -> bool:
    """Whether bytes were received that nobody has read yet, without waiting for more.

    A read of one byte, given one turn of the event loop: it finishes in that turn only when
    the bytes are there already (asyncio offers no public way to ask for the buffer's size)."""
    read = asyncio.ensure_future(reader.read(1))
    await asyncio.sleep(0)
    if read.done():
        return bool(read.result())
    read.cancel()
    await asyncio.wait([read])  # let it end; a cancellation of this task still reaches it
    return False


_LINE_END = re.compile(rb"\r\n?|\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
# Found faster than with ``in``: the regex engine skips ahead to each CR.
_DOT_LINE = re.compile(rb"\r\n\.")


def _dot_stuffed(data: bytes, crlf_only: bool = False) -> bytes:
    """The message as DATA content (RFC 5321 §4.5.2), ending in CRLF: every bare CR or LF made
    a CRLF first, whatever composed the message, so no line "." can end DATA early (nor, at a
    relay that takes a bare LF as a line end, smuggle in what follows). ``crlf_only``: the
    composer vouches that there is none (:attr:`..compose.RawMail.crlf_only`), which saves three
    passes over every digest mail; otherwise as many CRs as LFs and none without its LF say so,
    and base64 lines never start with a dot, so this usually copies nothing."""
    if not crlf_only and (data.count(b"\r") != data.count(b"\n") or _BARE_CR.search(data)):
        data = _LINE_END.sub(b"\r\n", data)
    if data.startswith(b"."):
        data = b"." + data
    if _DOT_LINE.search(data):
        data = data.replace(b"\r\n.", b"\r\n..")
    return data if data.endswith(b"\r\n") else data + b"\r\n"
