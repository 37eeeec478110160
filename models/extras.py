"""Optional dependency groups (``pip install 'briefing-digest[neural]'``) and their checks.

Core (the offline pipeline, the CLI and the bot) never needs them; an engine that does checks
here first, so a missing stack is one line that names the extra to install, not an ImportError
from deep inside a model loader.
"""

from __future__ import annotations

import importlib.util
from enum import StrEnum

from models.base import ModelUnavailableError, Remedy


class Extra(StrEnum):
    NEURAL = "neural"
    LLM = "llm"
    REDIS = "redis"


# The modules each extra provides that the product imports (pyproject.toml lists the packages).
_MODULES: dict[Extra, tuple[str, ...]] = {
    Extra.NEURAL: ("torch", "transformers", "huggingface_hub", "sentencepiece"),
    Extra.LLM: ("torch", "transformers", "huggingface_hub", "jinja2"),
    Extra.REDIS: ("redis",),
}


class MissingExtraError(ModelUnavailableError):
    """An engine's Python packages are not installed; the message names the extra."""


def install_command(extra: Extra) -> str:
    return f"pip install 'briefing-digest[{extra}]'"


def missing_modules(extra: Extra) -> list[str]:
    # find_spec only looks the module up: nothing heavy is imported here.
    return [name for name in _MODULES[extra] if importlib.util.find_spec(name) is None]


def require(extra: Extra, purpose: str) -> None:
    """Raise :class:`MissingExtraError` when ``extra`` is not installed."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(
            f"{purpose} needs the [{extra}] extra ({', '.join(missing)} not installed): "
            f"{install_command(extra)}",
            Remedy(f"the [{extra}] extra ({', '.join(missing)})", install_command(extra)),
        )
