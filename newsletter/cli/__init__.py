"""Command-line interface (SPEC §5): ``flask --app wsgi <command>``.

One module per area defines plain click commands (``@click.command`` plus
``flask.cli.with_appcontext``); :func:`init_app` registers them all on ``app.cli``.
Commands parse their arguments, call services, commit, and print; bad input ends in a clear
message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

from flask import Flask

from . import admin, articles, bounces, digest, evidence, retention, subscribers, worker

MODULES = (admin, articles, bounces, digest, evidence, retention, subscribers, worker)


def init_app(app: Flask) -> None:
    for module in MODULES:
        for command in module.COMMANDS:
            app.cli.add_command(command)
