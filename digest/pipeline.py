"""ingest → language → sentences, speakers, topics → summary → translation → Digest.

The pipeline knows nothing of Telegram or files on disk beyond a ``Document``; front ends
call :meth:`Pipeline.run` and render what it returns.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from digest.entities import Mention, find_entities, localise
from digest.errors import NothingToDigestError
from digest.model import Bullet, Digest, Document, Topic, TopicGroup, Transcript
from digest.remarks import without_openers
from digest.resources import Resources, load_resources
from digest.segment import segment
from digest.speakers import speaker_name
from digest.topics import OTHER_TOPIC, TopicFinder
from models.base import (
    Fallback,
    Point,
    SourceSentence,
    Summariser,
    SummaryRequest,
    SummaryResult,
    Translator,
)
from models.engines.llm_progress import StreamingSummariser, TopicProgress
from models.registry import EngineRegistry
from settings.schema import SUPPORTED_LANGUAGES, Settings

log = logging.getLogger(__name__)
_TRAILING_NOTE = re.compile(r"\s*\([^()]*\)\s*$")


@dataclass(frozen=True, slots=True)
class Progress:
    """A finished stage: language, topics, summarising, translating."""

    stage: str
    done: int = 1
    total: int = 1
    detail: str = ""


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything about a transcript that does not depend on the output language."""

    transcript: Transcript
    groups: tuple[TopicGroup, ...]
    summary: SummaryResult
    mentions: tuple[Mention, ...]
    # The asked-for engine could not run: what was missing and the command that fixes it.
    fallback: Fallback | None
    # A legacy code page that part of the input was read in (Document.assumed_encoding).
    assumed_encoding: str | None = None

    @property
    def fallback_reason(self) -> str | None:
        """What was missing, in words (for logs and older callers)."""
        return self.fallback.remedy.missing if self.fallback else None


class Pipeline:
    def __init__(self, settings: Settings, registry: EngineRegistry | None = None) -> None:
        self.settings = settings
        self.resources: Resources = load_resources(settings.paths.prompts_dir)
        self.registry = registry or EngineRegistry(
            settings,
            self.resources.stopwords,
            self.resources.glossary,
            {spec.id: spec.titles for spec in self.resources.taxonomy},
        )
        self._topics = TopicFinder(self.resources)
        self._markers = tuple(
            sorted(
                {m for spec in self.resources.languages.values() for m in spec.discourse_markers},
                key=len,
                reverse=True,
            )
        )

    def run(
        self,
        doc: Document,
        languages: Sequence[str] | None = None,
        engine: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Digest]:
        """Digest ``doc`` once and render it in each of ``languages``."""
        languages = _check_languages(languages or self.settings.output.languages)
        report = progress or (lambda _: None)
        started = time.perf_counter()
        analysis = self.analyse(doc, engine, report)
        translator = None
        if any(lang != analysis.summary.language for lang in languages):
            translator = self.registry.translator()
        digests = {}
        for done, lang in enumerate(languages, start=1):
            digests[lang] = self._compose(analysis, lang, translator)
            if lang != analysis.summary.language:
                report(Progress("translating", done, len(languages), lang))
        log.info(
            "digest done",
            extra={
                "source": doc.name,
                "language": analysis.transcript.language,
                "topics": len(analysis.groups),
                "engine": analysis.summary.engine,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return digests

    def analyse(
        self, doc: Document, engine: str | None = None, report: ProgressCallback | None = None
    ) -> Analysis:
        report = report or (lambda _: None)
        transcript = segment(doc, self.resources, self.settings.language)
        if not any(s.informative for s in transcript.sentences):
            raise NothingToDigestError(
                f"{doc.name}: nothing to digest: the text has only questions, greetings, "
                "headings or fragments, no statement of five words or more"
            )
        report(Progress("language", detail=transcript.language))
        summary_cfg = self.settings.summary
        groups = tuple(
            self._topics.group(
                transcript,
                summary_cfg.max_topics,
                summary_cfg.min_topic_sentences,
                summary_cfg.min_topic_share,
                summary_cfg.min_broad_topic_share,
            )
        )
        report(Progress("topics", detail=str(len(groups))))
        choice = self.registry.summariser(engine)
        # Only statements can become bullets or the headline; questions and greetings have
        # already steered the topics.
        request = SummaryRequest(
            language=transcript.language,
            sentences=[
                SourceSentence(s.id, s.text, s.language)
                for s in transcript.sentences
                if s.informative
            ],
            topics=[(g.id, g.sentence_ids) for g in groups],
            max_points=summary_cfg.max_bullets,
            max_words=summary_cfg.bullet_max_words,
            headline_max_words=summary_cfg.headline_max_words,
            title_id=transcript.title_sentence,
        )
        summary = _summarise(choice.summariser, request, len(groups), report)
        if transcript.title_sentence is not None:
            # The document's own title beats any sentence we could pick or write.
            title = transcript.sentence(transcript.title_sentence)
            text = headline_from_title(title.text)
            summary = replace(summary, headline=Point(text, (title.id,), title.language))
        report(Progress("summarising", len(groups), len(groups)))
        mentions = tuple(find_entities(transcript, self.resources, summary_cfg.max_entities))
        return Analysis(
            transcript,
            groups,
            summary,
            mentions,
            choice.fallback or summary.fallback,
            doc.assumed_encoding,
        )

    def _compose(self, analysis: Analysis, lang: str, translator: Translator | None) -> Digest:
        res = self.resources
        summary = analysis.summary
        notices: list[str] = []
        if analysis.fallback:
            notices.append(
                res.label(
                    lang,
                    "notice_engine_fallback",
                    engine=analysis.fallback.engine,
                    missing=analysis.fallback.remedy.missing,
                    command=analysis.fallback.remedy.command,
                )
            )
        transcript = analysis.transcript
        if len(transcript.languages) > 1:
            names = ", ".join(res.language_name(code, lang) for code in transcript.languages)
            notices.append(res.label(lang, "notice_mixed_languages", languages=names))
        if analysis.assumed_encoding:
            notices.append(
                res.label(lang, "notice_mixed_encoding", encoding=analysis.assumed_encoding)
            )
        if transcript.skipped_paragraphs:
            notices.append(
                res.label(
                    lang, "notice_unsupported_paragraphs", count=transcript.skipped_paragraphs
                )
            )

        points = [summary.headline] + [
            p for g in analysis.groups for p in summary.points.get(g.id, [])
        ]
        texts, route, missing = _translate(points, summary.language, lang, translator)
        for source in missing:
            remedy = self.registry.translation_remedy(translator, source, lang)
            notices.append(
                res.label(
                    lang,
                    "notice_translation_unavailable",
                    source=source,
                    target=lang,
                    source_name=res.language_name(source, lang),
                    missing=remedy.missing,
                    command=remedy.command,
                )
            )
        headline, bullet_texts = self._tidy(texts[0]), iter(texts[1:])
        topics = []
        for group in analysis.groups:
            group_points = summary.points.get(group.id, [])
            if not group_points:
                continue
            bullets = tuple(
                Bullet(
                    self._tidy(next(bullet_texts)),
                    p.source_ids,
                    self._speaker(transcript, p.source_ids, lang),
                )
                for p in group_points
            )
            topics.append(Topic(group.id, self._title(group, lang), bullets))
        return Digest(
            source_name=transcript.name,
            source_language=transcript.language,
            language=lang,
            headline=headline,
            topics=tuple(topics),
            entities=localise(list(analysis.mentions), lang),
            engine=summary.engine,
            notices=tuple(notices + summary.notices),
            route=tuple(summary.route + route),
            sentences={s.id: s.text for s in transcript.sentences},
        )

    def _tidy(self, text: str) -> str:
        """Drop a linking opening ("Furthermore, ...") that reads oddly in a lone bullet.
        Markers of every language are tried: an untranslated bullet keeps its source's."""
        return without_openers(text, self._markers)

    def _speaker(self, transcript: Transcript, ids: tuple[int, ...], lang: str) -> str | None:
        """Who said the bullet's first sentence, named for a reader of ``lang``."""
        if not ids or ids[0] >= len(transcript.sentences):
            return None
        sentence = transcript.sentence(ids[0])
        if not sentence.speaker:
            return None
        return speaker_name(sentence.speaker, sentence.language, lang, self.resources)

    def _title(self, group: TopicGroup, lang: str) -> str:
        if group.id == OTHER_TOPIC:
            return self.resources.label(lang, "other_topic")
        if group.emergent:
            return self.resources.label(lang, "emergent_topic", keywords=", ".join(group.keywords))
        return self.resources.topic_title(group.id, lang) or group.id


def headline_from_title(text: str) -> str:
    """"TRANSCRIPT OF ... (July 21, 2022)" -> "Transcript Of ...": no trailing note, no
    shouting."""
    text = _TRAILING_NOTE.sub("", text) or text
    if not any(ch.islower() for ch in text):
        text = text.title()
    return text


def _translate(
    points: list[Point], default_source: str, target: str, translator: Translator | None
) -> tuple[list[str], list[str], list[str]]:
    """Texts in ``target`` where a translator can do it; the route taken; sources it could not."""
    texts = [p.text for p in points]
    by_source: dict[str, list[int]] = {}
    for i, point in enumerate(points):
        source = point.language or default_source
        if source != target:
            by_source.setdefault(source, []).append(i)
    route: list[str] = []
    missing: list[str] = []
    for source, indices in by_source.items():
        if translator is None or not translator.supports(source, target):
            missing.append(source)
            continue
        translated = translator.translate([texts[i] for i in indices], source, target)
        for i, text in zip(indices, translated, strict=True):
            texts[i] = text
        route.append(f"translate:{source}->{target}:{translator.name}")
    return texts, route, missing


def _check_languages(languages: Sequence[str]) -> list[str]:
    unknown = [lang for lang in languages if lang not in SUPPORTED_LANGUAGES]
    if unknown:
        raise ValueError(
            f"unsupported output language: {', '.join(unknown)} (choose from en, hi, ru)"
        )
    return list(dict.fromkeys(languages))


def _summarise(
    summariser: Summariser, request: SummaryRequest, topics: int, report: ProgressCallback
) -> SummaryResult:
    """The summary; an engine that streams its answer (the LLM) reports topics done as it
    writes them, at most once every 2 s (the bot edits its status message with each)."""
    if not isinstance(summariser, StreamingSummariser):
        return summariser.summarise(request)
    progress = TopicProgress(
        topics, lambda done, planned: report(Progress("summarising", done, planned))
    )
    return summariser.summarise(request, on_text=progress)
