"""Input from outside, checked once for every view before any view sees it.

Whatever a client sends is hostile until checked; a value the database or Python cannot hold
must end as a clear 4xx page, never as a 500 from deep inside a query. The checks that hold
for every route live here: characters no field may hold, ids within the database's INTEGER,
and whole numbers in the query string within their range. What a single field may hold
(control characters in a title, the form of an address) stays with that field's form.
"""

from __future__ import annotations

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter

#: The largest id a URL may name: primary keys are INTEGER, 32 bits signed on PostgreSQL
#: (SQLite's hold 64 bits; beyond that Python cannot even bind the number).
MAX_ID = 2**31 - 1
#: NUL: no text column of PostgreSQL can hold it, and no field has a use for it.
_UNHOLDABLE = "\x00"


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: a number the database's INTEGER holds, else no match (404)."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def refuse_unholdable() -> None:
    """400 for a request carrying NUL anywhere a view or the evidence could read it: the
    path, the query string, the form (names and values), a JSON body and the headers
    (User-Agent is stored as evidence)."""
    texts = [request.path]
    for source in (request.args, request.form):
        for name, values in source.lists():
            texts.append(name or "")  # a multipart part whose name cannot be read has None
            texts.extend(values)
    texts.extend(request.headers.values())
    if request.is_json:
        texts.extend(_strings(request.get_json(silent=True)))
    if any(_UNHOLDABLE in text for text in texts):
        abort(400)


def _strings(value) -> list[str]:
    """Every string in a parsed JSON document, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value.keys(), *(text for item in value.values() for text in _strings(item))]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def int_arg(name: str, default: int | None = None, *, minimum: int = 0, maximum: int = MAX_ID) -> int | None:
    """The query parameter ``name`` as a whole number from ``minimum`` to ``maximum``.

    ``default`` when it is absent or empty; anything else (not ASCII digits, out of range)
    answers 400. ``str.isdigit`` is not enough: "²" is a digit to it, but not to ``int()``.
    """
    value = request.args.get(name, "")
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(maximum)):
        abort(400)
    number = int(value)
    if not minimum <= number <= maximum:
        abort(400)
    return number


def init_app(app: Flask) -> None:
    """Call before the blueprints are registered (their routes take the converter) and
    before the extensions (the guard runs before CSRF and rate-limit checks read the form)."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_unholdable)
