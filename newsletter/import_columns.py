"""Which column of an imported CSV file means what: ours, Mailchimp's export, listmonk's.

Our columns are ``email,consented_at,confirmed_at,ip,source`` (any case; the admin's download
adds more, which are read past). Mailchimp's audience export names them ``Email Address``,
``OPTIN_TIME``, ``OPTIN_IP``, ``CONFIRM_TIME``, ``CONFIRM_IP`` (times in UTC) beside columns for
names, ratings and places that we do not keep; listmonk's subscriber export ``email``,
``created_at`` and ``status``. A pure helper: no app, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Our columns, in the order the import reads them.
COLUMNS = ("email", "consented_at", "confirmed_at", "ip", "source")
#: The further columns of the admin's download (``subscriber_export``): read past on import.
EXPORT_COLUMNS = ("status", "channel", "confirm_ip", "consent_text_sha256", "locale", "created_at", "withdrawn_at")
#: The key under which a row's status in the other tool is handed on (see :data:`LEFT_OUT`).
STATUS = "_status"
#: Statuses in the other tool (or our download) whose rows are left out, with the reason.
LEFT_OUT = {
    "blocklisted": "blocklisted in listmonk",
    "withdrawn": "withdrawn",
    "erased": "erased",
    "suspended": "suspended after bounces",
}
#: Mailchimp's exports of contacts who left: importing them would subscribe them again.
_MAILCHIMP_LEAVERS = ("unsub_time", "clean_time")


class ColumnsError(ValueError):
    """The header line names no usable set of columns; the message says what it expected."""


@dataclass(frozen=True)
class Columns:
    """How one file's header maps to our columns."""

    #: The tool whose export it is ("Mailchimp", "listmonk"), None for our own format.
    tool: str | None
    #: Our column → the file's columns to take it from, the first non-empty one wins.
    sources: dict[str, tuple[str, ...]]
    #: The file's columns read past.
    ignored: tuple[str, ...] = ()
    #: The zone of times written without one (None: TIMEZONE).
    time_zone: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)

    def row(self, raw: dict[str | None, str | None]) -> dict[str | None, str | None]:
        """``raw`` (a csv.DictReader row) under our column names."""
        row: dict[str | None, str | None] = dict(self.defaults)
        for ours, theirs in self.sources.items():
            value = next((raw[name] for name in theirs if (raw.get(name) or "").strip()), None)
            if value is not None or ours not in row:
                row[ours] = value
        if None in raw:  # surplus fields: csv.DictReader puts them under None
            row[None] = raw[None]
        return row


def of_header(fieldnames: list[str] | None) -> Columns:
    """The mapping for a file whose header line is ``fieldnames``.

    :raises ColumnsError: no email column, a column we do not know in our own format, or
        Mailchimp's export of unsubscribed or cleaned contacts.
    """
    names = [name for name in fieldnames or [] if name is not None]
    lowered = {name.strip().lower(): name for name in names}
    if "email address" in lowered:
        return _mailchimp(lowered, names)
    if {"uuid", "email", "status"} <= lowered.keys():
        return _listmonk(lowered, names)
    return _ours(lowered, names)


def _mailchimp(lowered: dict[str, str], names: list[str]) -> Columns:
    if any(name in lowered for name in _MAILCHIMP_LEAVERS):
        raise ColumnsError(
            "this is Mailchimp's export of unsubscribed or cleaned contacts; import only the subscribed ones"
        )
    sources = {
        "email": ("email address",),
        "consented_at": ("optin_time",),
        "confirmed_at": ("confirm_time",),
        "ip": ("confirm_ip", "optin_ip"),  # the confirmation's IP, else the sign-up's
    }
    return _mapped("Mailchimp", sources, lowered, names, time_zone="UTC", source="mailchimp")


def _listmonk(lowered: dict[str, str], names: list[str]) -> Columns:
    sources = {"email": ("email",), "consented_at": ("created_at",), STATUS: ("status",)}
    return _mapped("listmonk", sources, lowered, names, time_zone="UTC", source="listmonk")


def _ours(lowered: dict[str, str], names: list[str]) -> Columns:
    if "email" not in lowered:
        raise ColumnsError(f"the first line must name the columns {','.join(COLUMNS)}; found {names!r}")
    known = (*COLUMNS, *EXPORT_COLUMNS)
    unknown = [name for key, name in lowered.items() if key not in known]
    if unknown:
        raise ColumnsError(f"unknown columns {', '.join(unknown)}; expected {','.join(COLUMNS)}")
    sources = {name: (name,) for name in COLUMNS if name in lowered}
    if "status" in lowered:
        sources[STATUS] = ("status",)
    columns = _mapped(None, sources, lowered, names)
    return Columns(None, columns.sources)  # our download's further columns are no news


def _mapped(
    tool: str | None,
    sources: dict[str, tuple[str, ...]],
    lowered: dict[str, str],
    names: list[str],
    *,
    time_zone: str | None = None,
    source: str | None = None,
) -> Columns:
    """``sources`` (in lower case) as the file spells them; the file's other columns ignored."""
    spelled = {ours: tuple(lowered[name] for name in theirs if name in lowered) for ours, theirs in sources.items()}
    used = {name for theirs in spelled.values() for name in theirs}
    ignored = tuple(name for name in names if name not in used)
    return Columns(tool, spelled, ignored, time_zone, {"source": source} if source else {})
