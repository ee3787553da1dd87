"""Fields the API's schemas share."""

from __future__ import annotations

import marshmallow as ma

from ..addresses import MAX_EMAIL_LENGTH, normalise_email


class Email(ma.fields.String):
    """An email address, normalised as everywhere (:func:`newsletter.addresses.normalise_email`)."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > MAX_EMAIL_LENGTH:
            raise ma.ValidationError(f"Longer than {MAX_EMAIL_LENGTH} characters.")
        try:
            return normalise_email(text)
        except ValueError as exc:
            raise ma.ValidationError("Not a valid email address.") from exc


class Annotated:
    """A record with a few more attributes for its response schema (``outcome``, ``counts``),
    so the schema serialises the record itself once."""

    def __init__(self, record: object, **more: object) -> None:
        self._record = record
        self.__dict__.update(more)

    def __getattr__(self, name: str) -> object:
        return getattr(self._record, name)
