"""Reports as remote mail servers send them back (DSN, a non-standard bounce, ARF, an automatic
reply, garbage), and handing one to the bounce listener over real SMTP."""

from __future__ import annotations

import smtplib

_DATE = "Sun, 29 Nov 2026 10:00:00 +0000"


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def dsn(recipient: str, status: str, *, action: str = "failed", message_id: str = "<unknown@example.org>",
        diagnostic: str | None = None) -> bytes:
    """A DSN (RFC 3464) as Postfix writes it, quoting the original's headers."""
    diagnostic = diagnostic or f"550 {status} <{recipient}>: Recipient address rejected: User unknown"
    return _crlf(f"""From: MAILER-DAEMON@relay.example.net (Mail Delivery System)
To: bounces@example.org
Subject: Undelivered Mail Returned to Sender
Date: {_DATE}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="DSN.boundary"

--DSN.boundary
Content-Type: text/plain; charset=us-ascii

This is the mail system at host relay.example.net.
I'm sorry to have to inform you that your message could not be delivered.

--DSN.boundary
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net
Arrival-Date: {_DATE}

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; {diagnostic}

--DSN.boundary
Content-Type: text/rfc822-headers

Message-ID: {message_id}
From: Beispiel Verlag <news@example.org>
To: {recipient}
Subject: Neuigkeiten

--DSN.boundary--
""")


def qmail_bounce(recipient: str) -> bytes:
    """A bounce in qmail's own format, no DSN."""
    return _crlf(f"""From: MAILER-DAEMON@mx.example.com
To: bounces@example.org
Subject: failure notice
Date: {_DATE}

Hi. This is the qmail-send program at mx.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{recipient}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.
""")


def arf(recipient: str, message_id: str, feedback_type: str = "abuse") -> bytes:
    """An ARF complaint (RFC 5965) as a mailbox provider's feedback loop sends it."""
    return _crlf(f"""From: feedback@mailbox.example.com
To: bounces@example.org
Subject: Complaint about message from 192.0.2.1
Date: {_DATE}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="ARF.boundary"

--ARF.boundary
Content-Type: text/plain; charset=us-ascii

This is an email abuse report for an email message received from IP 192.0.2.1.

--ARF.boundary
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: ExampleFBL/1.0
Version: 1
Original-Mail-From: <bounces@example.org>
Original-Rcpt-To: <{recipient}>
Arrival-Date: {_DATE}

--ARF.boundary
Content-Type: message/rfc822

From: Beispiel Verlag <news@example.org>
To: {recipient}
Subject: Neuigkeiten
Message-ID: {message_id}
Date: {_DATE}

Der Newsletter.

--ARF.boundary--
""")


def out_of_office(sender: str) -> bytes:
    return _crlf(f"""From: {sender}
To: bounces@example.org
Subject: Abwesenheitsnotiz: Neuigkeiten
Date: {_DATE}
Auto-Submitted: auto-replied

Ich bin bis zum 7. Dezember nicht im Büro.
""")


GARBAGE = b"\x1b[31mnot a report at all\r\n\x00\xff\xfe <script>alert(1)</script>\r\n"


def send_report(port: int, recipient: str, data: bytes, mail_from: str = "") -> dict:
    """Hand ``data`` to the listener on loopback ``port`` for ``recipient`` (the null sender, as
    a DSN comes); smtplib's refused recipients (empty: accepted with 250)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.sendmail(mail_from, [recipient], data)
