"""Flask extensions, created unbound here and bound to the app in :func:`init_app`."""

from __future__ import annotations

import logging
import os

from flask import Flask, current_app, request
from flask_babel import Babel, get_locale
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, TypeDecorator, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

from .paths import MIGRATIONS
from .requestinfo import client_key

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


logger = logging.getLogger(__name__)

db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=client_key, default_limits=[])
login_manager = LoginManager()

#: The per-client sign-up limit (RATELIMIT_SUBSCRIBE), one count for every way to sign up:
#: the form, the embedded form and the API share it, so no way in multiplies it.
sign_up_limit = limiter.shared_limit(lambda: current_app.config["RATELIMIT_SUBSCRIBE"], scope="sign-up")


def _render_item(type_, obj, autogen_context):
    """Write our TypeDecorators into migrations as their plain SQL types, so old migration
    scripts never import application code that may have changed since."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        autogen_context.imports.add("import sqlalchemy as sa")
        return f"sa.{obj.impl.__class__.__name__}()"
    return False


def select_locale() -> str:
    """German unless the browser prefers a language we offer (SPEC §3)."""
    languages = current_app.config["LANGUAGES"]
    return request.accept_languages.best_match(languages, default=languages[0])


def _warn_if_limits_are_per_process(app: Flask) -> None:
    """In memory, each web process counts on its own: gunicorn -w 4 lets a client four times through.

    Not said by ``flask`` commands (worker, send-digest, …, ``flask run``'s one process): they
    serve no web clients from several processes, and their operators read it as noise."""
    uri = str(app.config["RATELIMIT_STORAGE_URI"])
    command = os.environ.get("FLASK_RUN_FROM_CLI") == "true"  # set by Flask's command line
    if app.config["RATELIMIT_ENABLED"] and uri.startswith("memory://") and not (app.debug or app.testing or command):
        logger.warning(
            "RATELIMIT_STORAGE_URI is %s: every web process keeps its own per-client limits, so with"
            " several workers a client gets that many times the limit. Set NEWSLETTER_RATELIMIT_STORAGE_URI"
            " to a store the processes share, e.g. redis://127.0.0.1:6379 (README, Running in production).",
            uri,
        )


def init_app(app: Flask) -> None:
    from .paths import TRANSLATIONS

    db.init_app(app)
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(TRANSLATIONS),
        default_timezone=app.config["TIMEZONE"],
    )
    limiter.init_app(app)
    _warn_if_limits_are_per_process(app)
    login_manager.init_app(app)
    app.jinja_env.globals["get_locale"] = get_locale


def enable_migrations(app: Flask) -> None:
    """Flask-Migrate for ``app``: from here on ``flask db …`` and ``flask_migrate.upgrade()``
    work. Not done for every app (see :mod:`.cli.migrations`): it imports Alembic."""
    if "migrate" in app.extensions:
        return
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True, compare_type=True, render_item=_render_item)


@event.listens_for(Engine, "do_connect")
def _sqlite_turn_taking(dialect, _record, _cargs, cparams) -> None:
    """SQLite connections take turns at writing (:mod:`.sqlite_turns`)."""
    if dialect.name == "sqlite" and dialect.driver == "pysqlite":
        from .sqlite_turns import TurnTakingConnection

        cparams.setdefault("factory", TurnTakingConnection)


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, _record) -> None:
    """SQLite: foreign keys, WAL with synchronous=NORMAL, a busy timeout, turns at writing,
    and transactions under our control.

    synchronous=NORMAL (Rails' default for SQLite too): in WAL mode a commit survives a killed
    process, and the WAL is synced at checkpoints instead of at every commit; a power cut may
    take back the last commits, never corrupt the file. A sign-up's commit is 14 % cheaper
    (bench/README.md, issue 16). Whoever needs every commit on disk runs PostgreSQL.

    pysqlite's own transaction handling breaks SAVEPOINTs (releasing one can commit the whole
    transaction), so it is switched off and :func:`_sqlite_begin` starts every transaction.
    """
    if _is_sqlite(dbapi_connection):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if hasattr(dbapi_connection, "use_turn_file"):
            path = next(row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main")
            dbapi_connection.use_turn_file(path)
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection) -> None:
    """Take SQLite's write lock when a transaction starts, not halfway through it.

    A transaction that read first and writes later fails at once (no busy wait) if another
    connection wrote in between; IMMEDIATE makes writers queue up instead. Transactions here
    are short: the mail sender never holds one open across network I/O.
    """
    if connection.dialect.name == "sqlite":
        dbapi_connection = connection.connection.dbapi_connection
        take_turn = getattr(dbapi_connection, "take_turn", None)
        if take_turn is not None:
            take_turn()  # before SQLite's own lock, whose busy handler starves writers
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if take_turn is not None:
                dbapi_connection.let_go()
            raise


def _is_sqlite(dbapi_connection) -> bool:
    return any(cls.__module__.startswith("sqlite3") for cls in type(dbapi_connection).__mro__)
