"""``flask db …``: Flask-Migrate's commands (``upgrade``, ``downgrade``, ``migrate`` …),
imported only when one is run.

Importing Flask-Migrate imports Alembic, about 12 MB and 35 ms in every process that does
it; only these commands need it, so the web workers, the worker and the other commands go
without (``flask --help`` lists ``db`` all the same).
"""

from __future__ import annotations

import click
from flask.cli import ScriptInfo

from .. import extensions


class _MigrationCommands(click.Command):
    """Stands in for Flask-Migrate's ``db`` group until it is run: click parses and invokes
    whatever command the context it makes belongs to, here the real group."""

    def make_context(self, info_name, args, parent=None, **extra):
        from flask_migrate.cli import db as commands

        info = parent.ensure_object(ScriptInfo) if parent is not None else ScriptInfo()
        extensions.enable_migrations(info.load_app())
        return commands.make_context(info_name, args, parent=parent, **extra)


db = _MigrationCommands(
    "db", help="Perform database migrations (Flask-Migrate: upgrade, downgrade, current, …).",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True}, add_help_option=False,
)

COMMANDS = (db,)
