"""Every text shown is translated into German, and the compiled catalog matches its source."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "newsletter" / "translations" / "de" / "LC_MESSAGES"


def _source_messages() -> set[str]:
    method_map = [("newsletter/**.py", "python"), ("templates/**.html", "jinja2"), ("templates/**.txt", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _key(message_id):
    """A message's id; plural entries by their singular."""
    return message_id[0] if isinstance(message_id, tuple | list) else message_id


def _translated(string) -> bool:
    return all(string) if isinstance(string, tuple | list) else bool(string)


def test_every_message_in_code_and_templates_has_a_german_translation():
    with open(CATALOG / "messages.po", "rb") as handle:
        catalog = read_po(handle, locale="de")
    translated = {
        _key(message.id) for message in catalog if message.id and _translated(message.string) and not message.fuzzy
    }
    missing = sorted(_source_messages() - translated)
    assert missing == [], "run `python3 dev.py babel` and translate: " + "; ".join(missing)


def test_compiled_catalog_is_up_to_date():
    with open(CATALOG / "messages.po", "rb") as handle:
        source = {_key(m.id): tuple(m.string) if isinstance(m.string, tuple | list) else m.string
                  for m in read_po(handle, locale="de") if m.id and _translated(m.string)}
    with open(CATALOG / "messages.mo", "rb") as handle:
        compiled = {_key(m.id): tuple(m.string) if isinstance(m.string, tuple | list) else m.string
                    for m in read_mo(handle) if m.id}
    assert compiled == source, "run `python3 dev.py babel` to recompile messages.mo"
