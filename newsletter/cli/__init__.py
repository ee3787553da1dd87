"""Command-line interface (SPEC §5): ``flask --app wsgi <command>``.

One module per area defines plain click commands (``@click.command`` plus
``flask.cli.with_appcontext``); :func:`init_app` registers them all on ``app.cli``.
Commands parse their arguments, call services, commit, and print; bad input ends in a clear
message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from . import admin, api, articles, bounces, digest, evidence, migrations, retention, subscribers, worker

MODULES = (admin, api, articles, bounces, digest, evidence, migrations, retention, subscribers, worker)

#: What ``flask --help`` says about the service, below the commands.
DESCRIPTION = """\
Newsletter service: double opt-in sign-ups with consent evidence, digests of the site's articles
(from feeds or written in the admin) on DIGEST_SCHEDULE, and the mail sender. Serve the web app
with gunicorn (wsgi:app) behind nginx; run the scheduled jobs and the sender with 'flask --app
wsgi worker'; 'flask --app wsgi db upgrade' after each update. Each command's --help says more;
README.md has the deployment guide."""


def init_app(app: Flask) -> None:
    for module in MODULES:
        for command in module.COMMANDS:
            app.cli.add_command(command)
    _describe_in_flask_help()


def _describe_in_flask_help() -> None:
    """``flask --help``: Flask's own group calls itself "a general utility script" and writes
    that before it loads the app; the epilog, written after the app's commands are listed, is
    where the service can still say what it is."""
    context = click.get_current_context(silent=True)
    if context is not None and isinstance(context.find_root().command, FlaskGroup):
        context.find_root().command.epilog = DESCRIPTION
