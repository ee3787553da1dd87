"""Command-line interface (SPEC §5): ``flask --app wsgi <command>``.

One module per area defines plain click commands (``@click.command`` plus
``flask.cli.with_appcontext``); ``app.cli`` imports them and registers them all the first
time it is asked for a command (:class:`_CommandsOnFirstUse`): a web worker never is, and so
never imports what only commands need (feedparser, multiprocessing, the worker's jobs).
Commands parse their arguments, call services, commit, and print; bad input ends in a clear
message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup

#: The modules of commands, each with its COMMANDS.
MODULES = ("admin", "api", "articles", "bounces", "digest", "evidence", "migrations", "retention", "subscribers", "worker")

#: What ``flask --help`` says about the service, below the commands.
DESCRIPTION = """\
Newsletter service: double opt-in sign-ups with consent evidence, digests of the site's articles
(from feeds or written in the admin) on DIGEST_SCHEDULE, and the mail sender. Serve the web app
with gunicorn (wsgi:app) behind nginx; run the scheduled jobs and the sender with 'flask --app
wsgi worker'; 'flask --app wsgi db upgrade' after each update. Each command's --help says more;
README.md has the deployment guide."""


class _CommandsOnFirstUse(AppGroup):
    """``app.cli``, which imports and registers the commands of :data:`MODULES` when first
    asked for its commands or for one of them."""

    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for name in MODULES:
            for command in importlib.import_module(f"{__name__}.{name}").COMMANDS:
                self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)


def init_app(app: Flask) -> None:
    commands = _CommandsOnFirstUse(app.cli.name)
    for command in app.cli.commands.values():  # any registered already (Flask-Migrate's "db" comes later)
        commands.add_command(command)
    app.cli = commands
    _describe_in_flask_help()


def _describe_in_flask_help() -> None:
    """``flask --help``: Flask's own group calls itself "a general utility script" and writes
    that before it loads the app; the epilog, written after the app's commands are listed, is
    where the service can still say what it is."""
    context = click.get_current_context(silent=True)
    if context is not None and isinstance(context.find_root().command, FlaskGroup):
        context.find_root().command.epilog = DESCRIPTION
