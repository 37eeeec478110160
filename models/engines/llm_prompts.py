"""The LLM engine's prompts: chat messages for a chunk of the transcript, rendered from the
Jinja templates in ``prompts/llm`` (``system.LANG.j2``, ``user.j2``, ``retry.j2``), with the
topic titles and the glossary names the text writes otherwise than the canonical form."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from models.base import ModelUnavailableError, SummaryRequest

if TYPE_CHECKING:
    from models.engines.llm_chunks import Chunk

_MAX_GLOSSARY_LINES = 40
_MIN_GLOSSARY_FORM = 3

# A title per topic id: one string, or one per language ({"en": ..., "ru": ...}).
TopicTitles = Mapping[str, str | Mapping[str, str]]
# A glossary term: forms per language, the canonical form first ({"en": ["Sergey Lavrov",
# "Lavrov"], "ru": [...]}); a plain string is a line always shown.
GlossaryTerm = Mapping[str, Sequence[str]] | str


class PromptBuilder:
    """Chat messages for a chunk, from the Jinja templates in ``prompts/llm``."""

    def __init__(
        self,
        template_dir: Path,
        topics: TopicTitles | None = None,
        glossary: Sequence[GlossaryTerm] = (),
    ) -> None:
        if not template_dir.is_dir():
            raise ModelUnavailableError(f"LLM prompt templates not found: {template_dir}")
        self.template_dir = template_dir
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(template_dir)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self.topics: TopicTitles = topics or {}
        self.glossary = list(glossary)

    def title(self, topic_id: str, language: str) -> str | None:
        value = self.topics.get(topic_id)
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping):
            return value.get(language) or value.get("en")
        return None

    def known_topics(self, language: str) -> dict[str, str]:
        return {tid: self.title(tid, language) or "" for tid in self.topics}

    def glossary_lines(self, text: str, language: str) -> list[str]:
        """Glossary names the text writes otherwise than the canonical form in ``language``, as
        ``form found → canonical form``; plain-string terms always."""
        lines: list[str] = []
        for term in self.glossary:
            if isinstance(term, str):
                lines.append(term)
                continue
            forms = [f for values in term.values() for f in values if f]
            canonical = next(iter(term.get(language) or ()), None) or next(iter(forms), None)
            if canonical is None:
                continue
            found = [f for f in dict.fromkeys(forms) if len(f) >= _MIN_GLOSSARY_FORM and f in text]
            # Forms inside a longer form found ("Security Council" in "UN Security Council")
            # are the same mention; a name written as the canonical form needs no line.
            others = [
                f for f in found if f != canonical and not any(f != g and f in g for g in found)
            ][:2]
            if others:
                lines.append(f"{', '.join(others)} → {canonical}")
        return lines[:_MAX_GLOSSARY_LINES]

    def system(self, request: SummaryRequest) -> str:
        template = self._template(f"system.{request.language}.j2")
        return template.render(
            language=request.language,
            max_points=request.max_points,
            max_words=request.max_words,
            headline_max_words=request.headline_max_words,
        ).strip()

    def user(self, request: SummaryRequest, chunk: Chunk, part: int = 1, parts: int = 1) -> str:
        text = "\n".join(s.text for s in chunk.sentences)
        topics = [
            {
                "id": tid,
                "title": self.title(tid, request.language),
                "sentence_ids": list(ids),
            }
            for tid, ids in chunk.topics
        ]
        return (
            self._template("user.j2")
            .render(
                language=request.language,
                sentences=[{"id": s.id, "text": s.text} for s in chunk.sentences],
                topics=topics,
                glossary=self.glossary_lines(text, request.language),
                part=part,
                parts=parts,
            )
            .strip()
        )

    def retry(self, language: str, error: str) -> str:
        return self._template("retry.j2").render(language=language, error=error).strip()

    def messages(
        self, request: SummaryRequest, chunk: Chunk, part: int = 1, parts: int = 1
    ) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system(request)},
            {"role": "user", "content": self.user(request, chunk, part, parts)},
        ]

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self._env.get_template(name)
        except jinja2.TemplateNotFound:
            raise ModelUnavailableError(
                f"LLM prompt template {self.template_dir / name} is missing"
            ) from None


def glossary_terms(entries: Iterable[Any]) -> list[dict[str, list[str]]]:
    """Plain glossary data from entries with ``forms`` and ``aliases`` per language (as
    ``digest.resources.GlossaryEntry`` has), for ``build_llm_summariser``."""
    terms = []
    for entry in entries:
        forms: Mapping[str, str] = getattr(entry, "forms", {})
        aliases: Mapping[str, Sequence[str]] = getattr(entry, "aliases", {})
        terms.append(
            {lang: list(dict.fromkeys([forms[lang], *aliases.get(lang, ())])) for lang in forms}
        )
    return terms
