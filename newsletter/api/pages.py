"""Cursor pages of the admin API's lists: newest first, ``next_cursor`` names where the next
page starts. The cursor is opaque to clients (base64 of the last id seen); a tampered one
names some other place in the list at worst, never anything more."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import marshmallow as ma
from sqlalchemy import Select

from ..extensions import db
from ..inputs import MAX_ID

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class Cursor(ma.fields.String):
    def _deserialize(self, value, attr, data, **kwargs) -> int:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decoded = base64.urlsafe_b64decode(text.encode("ascii") + b"==").decode("ascii")
        except (UnicodeError, binascii.Error, ValueError):
            decoded = ""
        if not (decoded.isascii() and decoded.isdigit() and 0 < int(decoded) <= MAX_ID):
            raise ma.ValidationError("Not a cursor this API gave out.")
        return int(decoded)


def cursor_of(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


class PageQuery(ma.Schema):
    cursor = Cursor(metadata={"description": "next_cursor of the previous page"})
    limit = ma.fields.Integer(
        load_default=DEFAULT_LIMIT, validate=ma.validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Items per page, at most {MAX_LIMIT}"},
    )


def page_schema(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A page of ``item``: ``{"items": […], "next_cursor": "…" | null}``."""
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item)),
            "next_cursor": ma.fields.String(allow_none=True, metadata={"description": "null on the last page"}),
        },
        name=name,
    )


def page(query: Select, id_column, args: dict[str, Any]) -> dict[str, Any]:
    """The page of ``query`` (newest first by ``id_column``) that ``args`` (a :class:`PageQuery`) asks for."""
    limit = args["limit"]
    if "cursor" in args:
        query = query.where(id_column < args["cursor"])
    rows = list(db.session.execute(query.order_by(id_column.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": cursor_of(rows[-1].id) if more else None}
