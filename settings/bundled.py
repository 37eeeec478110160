"""Where the bundled ``config.toml`` and ``prompts/`` are read from.

In a source checkout (tests, an editable install) they are the checkout's own files, so edits
take effect at once. An installed wheel carries copies as the package data of
``briefing_digest_data`` (setup.py), found with :mod:`importlib.resources`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DATA_PACKAGE = "briefing_digest_data"
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def in_source_checkout() -> bool:
    return (SOURCE_ROOT / "pyproject.toml").is_file() and (SOURCE_ROOT / "config.toml").is_file()


def bundled_path(name: str) -> Path:
    """``config.toml``, ``prompts`` or a path below it, from the checkout or the package."""
    if in_source_checkout():
        return SOURCE_ROOT / name
    # The package is a directory of plain files once installed, so this is a real path.
    return Path(str(files(DATA_PACKAGE).joinpath(name)))
