"""Renderers: one digest, several formats. Fixed words come from prompts/labels.toml."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from digest.model import Digest
from digest.render.jsonout import render_json
from digest.render.markdown import render_markdown
from digest.render.plain import render_plain
from digest.render.telegram import render_telegram_html, split_telegram_html
from digest.resources import Resources

Format = Literal["md", "json", "html", "txt"]
EXTENSIONS: dict[str, str] = {"md": ".md", "json": ".json", "html": ".html", "txt": ".txt"}

_RENDERERS: dict[str, Callable[[Digest, Resources], str]] = {
    "md": render_markdown,
    "json": render_json,
    "html": render_telegram_html,
    "txt": render_plain,
}


def render(digest: Digest, fmt: str, resources: Resources) -> str:
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(_RENDERERS)})") from None
    return renderer(digest, resources)


__all__ = ["EXTENSIONS", "Format", "render", "split_telegram_html"]
