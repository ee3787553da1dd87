"""Entry point for ``flask --app wsgi`` and WSGI servers (``gunicorn wsgi:app``)."""

from newsletter import create_app
from newsletter.settings import ConfigError

try:
    app = create_app()
except ConfigError as error:  # a clear message instead of a traceback
    raise SystemExit(f"newsletter: configuration error: {error}") from None
