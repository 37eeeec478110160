"""A finished digest in every form the bot sends: Telegram HTML parts, Markdown and JSON.

Rendered once in the worker thread, then kept (memory and SQLite), so that language
switches and file downloads never run the pipeline or the renderers again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePath

from digest.model import Digest
from digest.render import render, split_telegram_html
from digest.resources import Resources


@dataclass(frozen=True, slots=True)
class RenderedLanguage:
    html_parts: tuple[str, ...]
    markdown: str
    json: str


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    id: str
    source_name: str
    source_language: str
    languages: dict[str, RenderedLanguage]

    def file_name(self, lang: str, fmt: str) -> str:
        stem = PurePath(self.source_name).stem or "briefing"
        # Telegram shows the name as is; keep it short and free of path separators.
        stem = "".join(ch for ch in stem if ch.isalnum() or ch in "-_ ")[:60].strip() or "briefing"
        return f"{stem}.{lang}.{'md' if fmt == 'md' else 'json'}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "source_name": self.source_name,
                "source_language": self.source_language,
                "languages": {
                    lang: {"html_parts": list(r.html_parts), "markdown": r.markdown, "json": r.json}
                    for lang, r in self.languages.items()
                },
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> RenderedDigest:
        data = json.loads(text)
        return cls(
            id=data["id"],
            source_name=data["source_name"],
            source_language=data["source_language"],
            languages={
                lang: RenderedLanguage(tuple(r["html_parts"]), r["markdown"], r["json"])
                for lang, r in data["languages"].items()
            },
        )


def render_all(digest_id: str, digests: dict[str, Digest], resources: Resources) -> RenderedDigest:
    first = next(iter(digests.values()))
    return RenderedDigest(
        id=digest_id,
        source_name=first.source_name,
        source_language=first.source_language,
        languages={
            lang: RenderedLanguage(
                html_parts=tuple(split_telegram_html(digest, resources)),
                markdown=render(digest, "md", resources),
                json=render(digest, "json", resources),
            )
            for lang, digest in digests.items()
        },
    )
