"""How a CSV file is written: the encoding and delimiter of one from elsewhere; cells a
spreadsheet must not run as formulas.

A list exported by German Excel is Windows-1252 with semicolons; Mailchimp and listmonk write
UTF-8 with commas; Excel's "Unicode text" is UTF-16 with tabs. :func:`detect` reads the file's
first bytes for a byte order mark, the whole file (in chunks) to see whether it is UTF-8, and
the header line for the delimiter. A pure helper: no app, no database.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

#: Delimiters a header line may use, in the order preferred when counts tie.
DELIMITERS = (",", ";", "\t")
_CHUNK = 64 * 1024
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class Layout:
    encoding: str
    delimiter: str

    def describe(self) -> str:
        names = {",": "commas", ";": "semicolons", "\t": "tabs"}
        encoding = {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252"}
        return f"{encoding.get(self.encoding, self.encoding)}, {names[self.delimiter]}"


def detect(path: Path) -> Layout:
    """The encoding (a BOM's, else UTF-8 if every byte fits, else Windows-1252) and the
    delimiter of the header line (the one of ``,`` ``;`` tab found most outside quotes)."""
    with path.open("rb") as handle:
        head = handle.read(_CHUNK)
    encoding = next((name for bom, name in _BOMS if head.startswith(bom)), None)
    if encoding is None:
        encoding = "utf-8" if _is_utf8(path) else "cp1252"
    header = head.decode(encoding, errors="replace").lstrip("\ufeff").splitlines()[:1]
    return Layout(encoding, _delimiter(header[0] if header else ""))


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _delimiter(line: str) -> str:
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return max(DELIMITERS, key=lambda delimiter: counts[delimiter])  # max keeps the first on a tie


#: A spreadsheet runs a cell starting with one of these as a formula (a tab or carriage return
#: may stand before one).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """``cell`` as a spreadsheet shows it as text and never runs: a ``'`` before a formula
    start (OWASP's advice against CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def unneutralise(cell: str) -> str:
    """A cell as it was before :func:`neutralise`."""
    return cell[1:] if cell[:1] == "'" and cell[1:].startswith(_FORMULA_STARTS) else cell
