"""Where the repo-root resources live, installed or in a source checkout.

A wheel carries ``templates/``, ``migrations/`` and ``config.py`` under ``newsletter/_bundled``
(see pyproject.toml); an editable install or a plain checkout reads them from the repo root.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE_DIR / "_bundled"
_SOURCE_ROOT = _PACKAGE_DIR.parent


def resource(name: str) -> Path:
    """Return the path of a repo-root resource, preferring the copy shipped in the wheel."""
    bundled = _BUNDLED / name
    return bundled if bundled.exists() else _SOURCE_ROOT / name


TEMPLATES = resource("templates")
MIGRATIONS = resource("migrations")
DEFAULT_CONFIG = resource("config.py")
TRANSLATIONS = _PACKAGE_DIR / "translations"
