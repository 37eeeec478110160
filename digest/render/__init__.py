"""Renderers: one digest, several formats. Fixed words come from prompts/labels.toml."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from digest.model import Digest
from digest.render.jsonout import render_json, render_json_envelope
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


# Between the languages of one source: a Markdown rule, a plain-text line.
_SEPARATORS = {"md": "\n---\n\n", "txt": "\n" + "-" * 72 + "\n\n", "html": "\n\n"}


def render_languages(digests: Sequence[Digest], fmt: str, resources: Resources) -> str:
    """One source's digests in several languages as one document: JSON is always the
    envelope of docs/digests.schema.json, text formats are separated by a rule."""
    if not digests:
        raise ValueError("no digest to render")
    if fmt == "json":
        return render_json_envelope(digests)
    texts = [render(d, fmt, resources) for d in digests]
    return _SEPARATORS[fmt].join(t.rstrip("\n") + "\n" for t in texts)


__all__ = ["EXTENSIONS", "Format", "render", "render_languages", "split_telegram_html"]
