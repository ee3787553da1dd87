"""Argument parsing shared by the commands."""

from __future__ import annotations

import click

from ..forms import normalise_email


def email_argument(_ctx, _param, value: str) -> str:
    """click callback: a normalised address, or a usage error saying what is wrong."""
    try:
        return normalise_email(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
