"""A self-hosted newsletter service: double opt-in, consent evidence, digests."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import Flask

from . import clock, inputs, publisher, settings
from .delivery import dkim, transports
from .paths import TEMPLATES


def create_app(
    config: Mapping[str, Any] | type | None = None,
    *,
    clock_: clock.Clock | None = None,
    instance_path: str | None = None,
) -> Flask:
    """Build the application.

    :param config: overrides applied after the defaults, ``instance/config.py`` and the
        ``NEWSLETTER_*`` environment (tests pass their settings here).
    :param clock_: the source of "now"; tests pass a :class:`~newsletter.clock.FrozenClock`.
    :param instance_path: the deployment's folder (database, outbox, config.py); defaults to
        ``NEWSLETTER_INSTANCE_PATH`` or ``instance/`` beside the package.
    """
    with _collections_paused():
        return _build(config, clock_, instance_path)


@contextmanager
def _collections_paused() -> Iterator[None]:
    """No cyclic garbage collection while the app loads: loading makes about half a million
    objects that live as long as the process, and the collections it would set off find no
    garbage (they cost every process about 90 ms of its start)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(config, clock_: clock.Clock | None, instance_path: str | None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=instance_path or os.environ.get("NEWSLETTER_INSTANCE_PATH") or None,
        template_folder=str(TEMPLATES),
    )
    os.makedirs(app.instance_path, exist_ok=True)  # SQLite and the outbox folder live here
    settings.load(app, config)
    publisher.init_app(app)

    from . import api, cli, extensions, models, requestinfo, security_headers  # noqa: F401  (models: tables)
    from .admin import bp as admin_bp
    from .views import embed, errors, operations, public

    clock.init_app(app, clock_)
    inputs.init_app(app)  # before the extensions and blueprints: see there
    requestinfo.init_app(app)
    extensions.init_app(app)
    transports.init_app(app)
    dkim.init_app(app)  # reads the key once; refuses one that cannot sign
    app.register_blueprint(public.bp)
    app.register_blueprint(operations.bp)
    app.register_blueprint(embed.bp)
    app.register_blueprint(admin_bp)
    api.init_app(app)
    errors.init_app(app)
    security_headers.init_app(app)
    cli.init_app(app)
    if app.config["EMBEDDED_WORKER"]:
        from . import scheduler  # APScheduler and the jobs' modules: only where they run

        scheduler.init_app(app)
    return app
