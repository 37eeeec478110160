"""The LLM engine: a small instruction-tuned causal LM writes the whole topic digest as JSON.

A request becomes a chat (``prompts/llm/system.LANG.j2`` + ``prompts/llm/user.j2``: the
numbered sentences, the topics with ids and titles, the glossary names found in the
transcript), rendered with the tokenizer's own chat template. The answer is parsed and checked
(:mod:`models.engines.llm_output`); bullets citing sentences that do not exist, or written in
the wrong language, are dropped. An unusable answer gets one retry with the problem shown to
the model (``prompts/llm/retry.j2``); a second failure, a run past ``[llm] time_budget_s``, a
missing model or any error in generation hand the request to the fallback engine, with a notice
saying why. The engine learns the model's speeds and usual answer length as it runs, and hands
over at once a digest it could not finish in the time left.

A transcript whose prompt does not fit ``[llm] context_window`` (less room for the answer)
is cut into per-topic chunks, each prompted separately (topics kept whole where they fit),
and the chunk digests are merged: topics in request order, the headline from the chunk
holding the most important topic.

Route steps recorded in ``SummaryResult.route``: ``llm:LANG:MODEL``, ``llm-chunks:N``,
``llm-retry``, ``extract:LANG`` (topics the model left out, filled by the fallback engine),
``llm-fallback:ENGINE``.

torch and transformers are imported here: the registry imports this module only when the
``llm`` engine is asked for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jinja2
import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    StoppingCriteria,
    StoppingCriteriaList,
    TextStreamer,
)

from models.base import (
    ModelUnavailableError,
    Point,
    SourceSentence,
    Summariser,
    SummaryRequest,
    SummaryResult,
)
from models.engines.extractive import trim
from models.engines.llm_output import CheckedDigest, LlmBullet, OutputError, attribute, parse_digest
from models.runtimes.hf_loading import choose_device, download_command, is_local_name, resolve_model
from settings.schema import LlmSettings, ModelsSettings, Settings

log = logging.getLogger(__name__)

# Tokens kept free below the window: token counts of a rendered chunk are estimates.
_SAFETY_TOKENS = 16
# The previous answer shown with a retry is cut to this many characters.
_RETRY_ANSWER_CHARS = 4000
# Below this many prompt tokens no useful chunk fits.
_MIN_PROMPT_TOKENS = 96
_MAX_GLOSSARY_LINES = 40
_MIN_GLOSSARY_FORM = 3
# The shortest useful answer, in tokens: a headline, and one short bullet per topic.
_HEADLINE_TOKENS, _BULLET_TOKENS = 30, 25
# Streaming callbacks are called at most this often (seconds).
_STREAM_INTERVAL_S = 0.5
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# A title per topic id: one string, or one per language ({"en": ..., "ru": ...}).
TopicTitles = Mapping[str, str | Mapping[str, str]]
# A glossary term: forms per language, the canonical form first ({"en": ["Sergey Lavrov",
# "Lavrov"], "ru": [...]}); a plain string is a line always shown.
GlossaryTerm = Mapping[str, Sequence[str]] | str
TextCallback = Callable[[str], None]


# -- loading ----------------------------------------------------------------------------------
@dataclass(eq=False)
class LoadedLlm:
    name: str
    tokenizer: Any
    model: Any
    device: str
    # Longest sequence (prompt + answer) the model takes, from its config.
    max_positions: int
    path: Path | None = None
    load_seconds: float = 0.0
    # Measured speeds (running estimates, 0 until the first generation): the prompt is read
    # at prefill_tok_s, the answer written at decode_tok_s.
    prefill_tok_s: float = 0.0
    decode_tok_s: float = 0.0
    # Answer tokens per topic, learnt from earlier answers (0 until the first).
    answer_tokens_per_topic: float = 0.0
    # One generation at a time per model: concurrent ones would only share the same cores.
    lock: threading.RLock = field(default_factory=threading.RLock)


ModelLoader = Callable[[str], LoadedLlm]


def cpu_has_bf16() -> bool:
    """Whether the CPU computes in bfloat16 natively (AVX512-BF16 or AMX; Linux flags)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto``: bfloat16 on a GPU or a CPU with native bfloat16, else float32."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if device == "cuda" or cpu_has_bf16() else "float32"


def load_causal_lm(name: str, models: ModelsSettings, dtype: str = "auto") -> LoadedLlm:
    """Tokenizer and causal LM ``name`` from a local directory or the cache; never downloads."""
    path = resolve_model(name, models.cache_dir)
    device = choose_device(models.device)
    dtype = resolve_dtype(dtype, device)
    started = time.perf_counter()
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        if getattr(config, "is_encoder_decoder", False):
            raise ValueError(f"{config.model_type} is an encoder-decoder, not a causal LM")
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("its tokenizer has no chat template (not an instruction model)")
        if models.threads > 0:
            torch.set_num_threads(models.threads)
        model = AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, dtype=_DTYPES[dtype]
        )
    except Exception as exc:  # corrupt weights, unknown architecture, missing files: say which
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailableError(
            f"model {name} at {path} could not be loaded as a chat LLM: {reason}; "
            f"fetch it again with: {download_command(name)}"
        ) from exc
    model.eval()
    model.to(device)
    positions = int(getattr(config, "max_position_embeddings", 0) or 0) or 4096
    loaded = LoadedLlm(
        name, tokenizer, model, device, positions, path, time.perf_counter() - started
    )
    log.info(
        "llm loaded",
        extra={
            "model": name,
            "device": device,
            "dtype": dtype,
            "seconds": round(loaded.load_seconds, 2),
        },
    )
    return loaded


_CACHE: dict[tuple[Path, str, str], LoadedLlm] = {}
_CACHE_LOCK = threading.Lock()
_LOADING: dict[tuple[Path, str, str], threading.Lock] = {}


def cached_causal_lm(name: str, models: ModelsSettings, dtype: str = "auto") -> LoadedLlm:
    """:func:`load_causal_lm`, once per directory, device and dtype in this process."""
    key = (resolve_model(name, models.cache_dir).resolve(), models.device, dtype)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        key_lock = _LOADING.setdefault(key, threading.Lock())
    with key_lock:
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
        loaded = load_causal_lm(name, models, dtype)
        with _CACHE_LOCK:
            _CACHE[key] = loaded
            _LOADING.pop(key, None)
        return loaded


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


# -- prompts ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Chunk:
    """Part of a request prompted at once: its sentences and (topic id, sentence ids)."""

    sentences: tuple[SourceSentence, ...]
    topics: tuple[tuple[str, tuple[int, ...]], ...]


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
    ``digest.resources.GlossaryEntry`` has), for :func:`build_llm_summariser`."""
    terms = []
    for entry in entries:
        forms: Mapping[str, str] = getattr(entry, "forms", {})
        aliases: Mapping[str, Sequence[str]] = getattr(entry, "aliases", {})
        terms.append(
            {lang: list(dict.fromkeys([forms[lang], *aliases.get(lang, ())])) for lang in forms}
        )
    return terms


def render_chat(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> str:
    """The prompt text: messages through the tokenizer's chat template, answer turn opened."""
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    return text if isinstance(text, str) else str(text)


def count_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


# -- stopping ---------------------------------------------------------------------------------
class DeadlineCriteria(StoppingCriteria):
    """Stops generation at a wall-clock deadline (``time.monotonic()``) and remembers it did.

    Like ``MaxTimeCriteria`` but with one deadline shared by every call of a request (chunks
    and retries), so the whole digest stays inside the budget.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        # When the first and the latest token came (monotonic), and how many came.
        self.first_step: float | None = None
        self.last_step: float | None = None
        self.steps = 0

    def __call__(
        self, input_ids: torch.LongTensor, scores: Any = None, **kwargs: Any
    ) -> torch.BoolTensor:
        now = time.monotonic()
        if self.first_step is None:
            self.first_step = now
        self.last_step = now
        self.steps += 1
        if now >= self.deadline:
            self.expired = True
        return torch.full(
            (input_ids.shape[0],), self.expired, dtype=torch.bool, device=input_ids.device
        )


class JsonEndCriteria(StoppingCriteria):
    """Stops once the answer holds a complete top-level JSON object: whatever a model adds
    after it (an explanation, a second copy) costs time and is thrown away."""

    def __init__(self, tokenizer: Any, prompt_length: int) -> None:
        self.tokenizer = tokenizer
        self.seen = prompt_length
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.done = False

    def feed(self, text: str) -> bool:
        for ch in text:
            if self.done:
                break
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif ch == "\\":
                    self.escaped = True
                elif ch == '"':
                    self.in_string = False
            elif ch == "{":
                self.depth += 1
            elif ch == "}" and self.depth > 0:
                self.depth -= 1
                self.done = self.depth == 0
            elif ch == '"' and self.depth > 0:
                self.in_string = True
        return self.done

    def __call__(
        self, input_ids: torch.LongTensor, scores: Any = None, **kwargs: Any
    ) -> torch.BoolTensor:
        new = input_ids[0, self.seen :].tolist()
        self.seen = input_ids.shape[1]
        if new and not self.done:
            self.feed(self.tokenizer.decode(new, skip_special_tokens=True))
        return torch.full(
            (input_ids.shape[0],), self.done, dtype=torch.bool, device=input_ids.device
        )


class _CallbackStreamer(TextStreamer):
    """Hands the answer so far to a callback (e.g. a Telegram status message), throttled."""

    def __init__(self, tokenizer: Any, callback: TextCallback) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.callback = callback
        self.text = ""
        self._last = 0.0

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        self.text += text
        now = time.monotonic()
        if not stream_end and now - self._last < _STREAM_INTERVAL_S:
            return
        self._last = now
        try:
            self.callback(self.text)
        except Exception:  # a failing progress display must not stop the digest
            log.warning("llm stream callback failed", exc_info=True)


# -- the engine -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float


class OverBudgetError(RuntimeError):
    """The time budget ran out before the digest was written."""


class LlmSummariser:
    """Writes the digest with a chat LLM; falls back to ``fallback`` when that fails."""

    name = "llm"

    def __init__(
        self,
        settings: LlmSettings,
        models: ModelsSettings,
        fallback: Summariser,
        prompts: PromptBuilder,
        *,
        model_name: str | None = None,
        model_loader: ModelLoader | None = None,
    ) -> None:
        self.settings = settings
        self.models = models
        self.model_name = model_name or settings.model
        self.fallback = fallback
        self.prompts = prompts
        self._loader: ModelLoader = model_loader or (
            lambda name: cached_causal_lm(name, models, settings.dtype)
        )

    # -- public ---------------------------------------------------------------------------
    def summarise(
        self, request: SummaryRequest, on_text: TextCallback | None = None
    ) -> SummaryResult:
        """The digest of ``request``; ``on_text`` receives the answer as it is generated."""
        budget = self.settings.time_budget_s
        try:
            loaded = self._loader(self.model_name)
            deadline = time.monotonic() + budget
            return self._summarise(loaded, request, deadline, on_text)
        except ModelUnavailableError as exc:
            log.warning("llm unavailable, using the %s engine: %s", self.fallback.name, exc)
            return self._fall_back(request, f"is not available ({exc})")
        except OverBudgetError as exc:
            log.warning("llm over its time budget, using the %s engine", self.fallback.name)
            return self._fall_back(request, f"ran past its time budget of {budget:g} s ({exc})")
        except OutputError as exc:
            log.warning("llm answer unusable, using the %s engine: %s", self.fallback.name, exc)
            return self._fall_back(request, f"did not write a valid digest ({exc})")
        except Exception as exc:  # the bot must get a digest whatever the model does
            log.exception("llm generation failed, using the %s engine", self.fallback.name)
            return self._fall_back(request, f"failed ({type(exc).__name__}: {exc})")

    def window(self, loaded: LoadedLlm) -> int:
        """Tokens the prompt and the answer may take together."""
        configured = self.settings.context_window
        return min(configured, loaded.max_positions) if configured else loaded.max_positions

    def prompt_budget(self, loaded: LoadedLlm) -> int:
        return self.window(loaded) - self.settings.max_new_tokens - _SAFETY_TOKENS

    def prompt_tokens(self, loaded: LoadedLlm, messages: Sequence[Mapping[str, str]]) -> int:
        return count_tokens(loaded.tokenizer, render_chat(loaded.tokenizer, messages))

    def plan(self, loaded: LoadedLlm, request: SummaryRequest) -> list[Chunk]:
        """The request as chunks whose prompts fit the window: one when the whole fits."""
        budget = self.prompt_budget(loaded)
        if budget < _MIN_PROMPT_TOKENS:
            raise ModelUnavailableError(
                f"the context window ({self.window(loaded)} tokens) leaves no room for a prompt "
                f"beside max_new_tokens = {self.settings.max_new_tokens}"
            )
        by_id = {s.id: s for s in request.sentences}
        topics = [(tid, tuple(i for i in ids if i in by_id)) for tid, ids in request.topics]
        topics = [(tid, ids) for tid, ids in topics if ids]
        if not topics:
            raise OutputError(["the request has no topic sentences"])

        def fits(chunk: Chunk, parts: int = 1) -> bool:
            messages = self.prompts.messages(request, chunk, parts, parts)
            return self.prompt_tokens(loaded, messages) <= budget

        whole = Chunk(tuple(request.sentences), tuple(topics))
        if fits(whole):
            return [whole]
        needed = sorted({i for _, ids in topics for i in ids})
        cited = Chunk(tuple(by_id[i] for i in needed), tuple(topics))
        if fits(cited):
            return [cited]
        return self._pack(loaded, request, topics, by_id, budget)

    # -- internals ------------------------------------------------------------------------
    def _pack(
        self,
        loaded: LoadedLlm,
        request: SummaryRequest,
        topics: Sequence[tuple[str, tuple[int, ...]]],
        by_id: Mapping[int, SourceSentence],
        budget: int,
    ) -> list[Chunk]:
        """Greedy per-topic packing by estimated token cost, each chunk checked by rendering.

        A topic goes whole into the current chunk when it fits, else starts a new chunk; a
        topic larger than a chunk is split into runs of sentences. A sentence too long for any
        chunk is shortened.
        """
        tokenizer = loaded.tokenizer
        # Overhead of an empty chunk, and per-line costs (a topic line, a sentence line).
        base = (
            self.prompt_tokens(loaded, self.prompts.messages(request, Chunk((), ()), 99, 99))
            + _SAFETY_TOKENS
        )

        def line_cost(text: str) -> int:
            return count_tokens(tokenizer, text + "\n") + 1

        room = budget - base
        sentence_cost = {i: line_cost(f"[{i}] {by_id[i].text}") for _, ids in topics for i in ids}
        topic_cost = {
            tid: line_cost(f"- {tid} — {self.prompts.title(tid, request.language) or ''} — ")
            + 2 * len(ids)
            for tid, ids in topics
        }
        # Glossary lines depend on the text; leave them a share of the room.
        glossary_room = min(room // 4, 16 * len(self.prompts.glossary))
        room -= glossary_room
        groups: list[list[tuple[str, list[int]]]] = [[]]
        used = 0
        for tid, ids in topics:
            total = topic_cost[tid] + sum(sentence_cost[i] for i in ids)
            if used + total > room and groups[-1] and total <= room:
                groups.append([])
                used = 0
            current = groups[-1]
            current.append((tid, []))
            used += topic_cost[tid]
            for i in ids:
                cost = sentence_cost[i]
                if used + cost > room and current[-1][1]:
                    groups.append([(tid, [])])
                    current = groups[-1]
                    used = topic_cost[tid]
                current[-1][1].append(i)
                used += cost
        groups = [g for g in groups if any(ids for _, ids in g)]
        chunks = [self._chunk(request, g, by_id) for g in groups]
        # Check each by rendering; split any that do not fit after all.
        result: list[Chunk] = []
        pending = list(chunks)
        while pending:
            chunk = pending.pop(0)
            messages = self.prompts.messages(request, chunk, len(chunks), len(chunks))
            if self.prompt_tokens(loaded, messages) <= budget:
                result.append(chunk)
                continue
            halves = _halve(chunk)
            if halves is None:
                result.append(self._shorten(loaded, request, chunk, budget))
            else:
                pending[:0] = halves
        log.info("llm prompt split", extra={"chunks": len(result), "budget": budget})
        return result

    @staticmethod
    def _chunk(
        request: SummaryRequest,
        group: Sequence[tuple[str, Sequence[int]]],
        by_id: Mapping[int, SourceSentence],
    ) -> Chunk:
        ids = sorted({i for _, tids in group for i in tids})
        return Chunk(tuple(by_id[i] for i in ids), tuple((tid, tuple(t)) for tid, t in group if t))

    def _shorten(
        self, loaded: LoadedLlm, request: SummaryRequest, chunk: Chunk, budget: int
    ) -> Chunk:
        """A one-sentence chunk cut (by words) until its prompt fits."""
        sentence = chunk.sentences[0]
        tokens = sentence.text.split()
        while len(tokens) > 1:
            tokens = tokens[: max(1, len(tokens) * 3 // 4)]
            shorter = replace(chunk, sentences=(replace(sentence, text=" ".join(tokens) + " …"),))
            if self.prompt_tokens(loaded, self.prompts.messages(request, shorter)) <= budget:
                log.warning("llm: sentence %d shortened to fit the context window", sentence.id)
                return shorter
        raise ModelUnavailableError(
            f"sentence {sentence.id} does not fit the context window even when shortened"
        )

    def _summarise(
        self,
        loaded: LoadedLlm,
        request: SummaryRequest,
        deadline: float,
        on_text: TextCallback | None,
    ) -> SummaryResult:
        chunks = self.plan(loaded, request)
        route = [f"llm:{request.language}:{self.model_name}"]
        if len(chunks) > 1:
            route.append(f"llm-chunks:{len(chunks)}")
        digests: list[tuple[Chunk, CheckedDigest]] = []
        failures: list[str] = []
        for part, chunk in enumerate(chunks, start=1):
            try:
                checked, retried = self._digest_chunk(
                    loaded, request, chunk, part, len(chunks), deadline, on_text
                )
            except OutputError as exc:
                if len(chunks) == 1:
                    raise
                failures.append(f"part {part}: {exc}")
                log.warning("llm chunk %d/%d unusable: %s", part, len(chunks), exc)
                continue
            if retried:
                route.append("llm-retry")
            digests.append((chunk, checked))
        if not digests:
            raise OutputError(failures)
        return self._result(request, digests, failures, route)

    def _digest_chunk(
        self,
        loaded: LoadedLlm,
        request: SummaryRequest,
        chunk: Chunk,
        part: int,
        parts: int,
        deadline: float,
        on_text: TextCallback | None,
    ) -> tuple[CheckedDigest, bool]:
        """One chunk's checked digest, retrying with the error shown (``[llm] retries``)."""
        messages = self.prompts.messages(request, chunk, part, parts)
        checks = {
            "language": request.language,
            "sentence_ids": {s.id for s in chunk.sentences},
            "known_topics": {
                **self.prompts.known_topics(request.language),
                **{tid: self.prompts.title(tid, request.language) or "" for tid, _ in chunk.topics},
            },
            "max_points": request.max_points,
        }
        attempt = 0
        while True:
            generation = self._generate(
                loaded, messages, deadline, on_text, topics=len(chunk.topics)
            )
            try:
                checked = parse_digest(generation.text, **checks)
            except OutputError as exc:
                if attempt >= self.settings.retries:
                    raise
                attempt += 1
                log.info("llm answer unusable, retrying: %s", exc)
                messages = self._retry_messages(loaded, request, messages, generation.text, exc)
                continue
            if checked.dropped:
                log.info("llm bullets dropped: %s", "; ".join(checked.dropped))
            return checked, attempt > 0

    def _retry_messages(
        self,
        loaded: LoadedLlm,
        request: SummaryRequest,
        messages: list[dict[str, str]],
        answer: str,
        error: OutputError,
    ) -> list[dict[str, str]]:
        """The conversation so far, the bad answer, and the problem (the answer is left out
        when it would not fit the window)."""
        base = messages[:2]
        retry = {"role": "user", "content": self.prompts.retry(request.language, str(error))}
        shown = answer.strip()[:_RETRY_ANSWER_CHARS] or "…"
        full = [*base, {"role": "assistant", "content": shown}, retry]
        if self.prompt_tokens(loaded, full) <= self.prompt_budget(loaded):
            return full
        # No room for the answer: fold the problem into the user turn instead.
        folded = {"role": "user", "content": base[1]["content"] + "\n\n" + retry["content"]}
        return [base[0], folded]

    def _generate(
        self,
        loaded: LoadedLlm,
        messages: Sequence[Mapping[str, str]],
        deadline: float,
        on_text: TextCallback | None,
        topics: int = 0,
    ) -> Generation:
        """One answer, greedy at temperature 0; raises :class:`OverBudgetError` past the
        deadline (or before starting, when it cannot finish in time)."""
        tokenizer, model = loaded.tokenizer, loaded.model
        prompt = render_chat(tokenizer, messages)
        encoded = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
        input_ids = encoded["input_ids"].to(loaded.device)
        attention = encoded["attention_mask"].to(loaded.device)
        prompt_length = input_ids.shape[1]
        timer = DeadlineCriteria(deadline)
        criteria = StoppingCriteriaList([timer, JsonEndCriteria(tokenizer, prompt_length)])
        config = self._generation_config(loaded)
        streamer = _CallbackStreamer(tokenizer, on_text) if on_text else None
        with loaded.lock, torch.inference_mode():
            # Checked once the model is ours: waiting for another request's turn counts.
            _check_time_left(loaded, prompt_length, _expected_answer(loaded, topics), deadline)
            started = time.monotonic()
            output = model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                generation_config=config,
                stopping_criteria=criteria,
                streamer=streamer,
                tokenizer=tokenizer,
            )
            seconds = time.monotonic() - started
            new = output[0, prompt_length:]
            new_tokens = int(new.shape[0])
            _update_speeds(loaded, timer, started, prompt_length)
            _update_answer_length(loaded, new_tokens, topics, finished=not timer.expired)
        text = tokenizer.decode(new, skip_special_tokens=True)
        log.info(
            "llm generated",
            extra={
                "model": self.model_name,
                "prompt_tokens": prompt_length,
                "new_tokens": new_tokens,
                "seconds": round(seconds, 2),
                "prefill_tok_s": round(loaded.prefill_tok_s, 1),
                "decode_tok_s": round(loaded.decode_tok_s, 2),
                "timed_out": timer.expired,
            },
        )
        if timer.expired:
            raise OverBudgetError(
                f"stopped after {new_tokens} new tokens, prompt {prompt_length} tokens"
            )
        return Generation(text, prompt_length, new_tokens, seconds)

    def _generation_config(self, loaded: LoadedLlm) -> GenerationConfig:
        tokenizer = loaded.tokenizer
        base = getattr(loaded.model, "generation_config", None)
        eos = _end_ids(tokenizer, base)
        sampled = self.settings.temperature > 0
        values: dict[str, Any] = {
            "max_new_tokens": self.settings.max_new_tokens,
            "do_sample": sampled,
            "eos_token_id": eos or None,
            "pad_token_id": _pad_id(tokenizer, eos),
            "repetition_penalty": self.settings.repetition_penalty,
        }
        if sampled:
            values["temperature"] = self.settings.temperature
            values["top_p"] = self.settings.top_p
        stops = [s for s in self.settings.stop_strings if s]
        if stops:
            values["stop_strings"] = stops
        return GenerationConfig(**values)

    def _result(
        self,
        request: SummaryRequest,
        digests: Sequence[tuple[Chunk, CheckedDigest]],
        failures: Sequence[str],
        route: list[str],
    ) -> SummaryResult:
        """Chunk digests merged into one result; new topics re-homed, gaps filled."""
        texts = {s.id: s.text for s in request.sentences}
        request_topics = [tid for tid, _ in request.topics]
        members = {tid: set(ids) for tid, ids in request.topics}
        merged: dict[str, list[LlmBullet]] = {}
        for _, checked in digests:
            for topic in checked.topics:
                for bullet in topic.bullets:
                    home = _home(topic.id, bullet, members)
                    merged.setdefault(home, []).append(bullet)
        points: dict[str, list[Point]] = {}
        for tid, bullets in merged.items():
            kept: list[Point] = []
            seen: set[str] = set()
            for bullet in bullets:
                text = trim(bullet.text, request.max_words)
                if text.casefold() in seen:
                    continue
                seen.add(text.casefold())
                kept.append(Point(text, bullet.evidence))
                if len(kept) == request.max_points:
                    break
            points[tid] = kept
        notices: list[str] = []
        missing = [tid for tid in request_topics if not points.get(tid)]
        if missing:
            extracted = self.fallback.summarise(request)
            filled = [tid for tid in missing if extracted.points.get(tid)]
            for tid in filled:
                points[tid] = extracted.points[tid]
            if filled:
                route.append(f"extract:{request.language}")
        if failures:
            notices.append(
                f"The LLM's answer for part of the transcript was not usable ({failures[0]}); "
                f"those topics are extracts from the {self.fallback.name} engine."
            )
        first = digests[0][1]
        evidence = first.headline_evidence or attribute(
            first.headline,
            {
                i: texts[i]
                for _, c in digests
                for t in c.topics
                for b in t.bullets
                for i in b.evidence
            },
        )
        if not evidence:
            evidence = next(iter(p.source_ids for ps in points.values() for p in ps), ())
        headline = Point(trim(first.headline, request.headline_max_words), tuple(evidence))
        return SummaryResult(
            headline=headline,
            points=points,
            language=request.language,
            engine=self.name,
            notices=notices,
            route=route,
        )

    def _fall_back(self, request: SummaryRequest, reason: str) -> SummaryResult:
        result = self.fallback.summarise(request)
        notice = (
            f"The LLM engine ({self.model_name}) {reason}; "
            f"the {self.fallback.name} engine wrote this digest."
        )
        return replace(
            result,
            notices=[*result.notices, notice],
            route=[f"llm-fallback:{self.fallback.name}", *result.route],
        )


def _home(topic_id: str, bullet: LlmBullet, members: Mapping[str, set[int]]) -> str:
    """A bullet's topic: its own when the request has it, else the request topic holding most
    of its evidence (the pipeline shows only the request's topics)."""
    if topic_id in members:
        return topic_id
    best = max(members, key=lambda tid: len(members[tid] & set(bullet.evidence)), default=None)
    if best is not None and members[best] & set(bullet.evidence):
        return best
    return topic_id


def _halve(chunk: Chunk) -> list[Chunk] | None:
    """The chunk as two, split between topics or else within its one topic."""
    if len(chunk.topics) > 1:
        middle = len(chunk.topics) // 2
        groups = [chunk.topics[:middle], chunk.topics[middle:]]
    else:
        tid, ids = chunk.topics[0]
        if len(ids) < 2:
            return None
        middle = len(ids) // 2
        groups = [((tid, ids[:middle]),), ((tid, ids[middle:]),)]
    by_id = {s.id: s for s in chunk.sentences}
    return [
        Chunk(tuple(by_id[i] for i in sorted({i for _, ids in g for i in ids})), tuple(g))
        for g in groups
    ]


def _check_time_left(
    loaded: LoadedLlm, prompt_tokens: int, min_answer_tokens: int, deadline: float
) -> None:
    """Raise :class:`OverBudgetError` when no time is left, or when, at the speeds measured
    so far, reading the prompt and writing the shortest useful answer would take longer than
    what is left: better to fall back now than after the budget is spent (prompt processing
    cannot be stopped half-way)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise OverBudgetError("no time was left for another generation")
    if loaded.prefill_tok_s <= 0:
        return
    needed = prompt_tokens / loaded.prefill_tok_s
    if loaded.decode_tok_s > 0:
        needed += min_answer_tokens / loaded.decode_tok_s
    if needed > left:
        raise OverBudgetError(
            f"the {prompt_tokens}-token prompt and a ~{min_answer_tokens}-token answer would "
            f"take ~{needed:.0f} s at the speeds measured ({loaded.prefill_tok_s:.0f} and "
            f"{loaded.decode_tok_s:.1f} tokens/s), {left:.0f} s were left"
        )


def _expected_answer(loaded: LoadedLlm, topics: int) -> int:
    """Answer tokens to expect for ``topics`` topics: as learnt from earlier answers, and at
    least a headline and one short bullet per topic."""
    per_topic = max(_BULLET_TOKENS, loaded.answer_tokens_per_topic)
    return int(_HEADLINE_TOKENS + per_topic * topics)


def _update_answer_length(loaded: LoadedLlm, new_tokens: int, topics: int, finished: bool) -> None:
    """Learn the answer length per topic: from finished answers, and from answers stopped by
    the budget as a lower bound (the answer needed at least that much)."""
    if topics <= 0:
        return
    per_topic = max(0.0, (new_tokens - _HEADLINE_TOKENS) / topics)
    old = loaded.answer_tokens_per_topic
    if finished:
        loaded.answer_tokens_per_topic = per_topic if old <= 0 else 0.5 * old + 0.5 * per_topic
    else:
        loaded.answer_tokens_per_topic = max(old, per_topic)


def _update_speeds(
    loaded: LoadedLlm, timer: DeadlineCriteria, started: float, prompt_tokens: int
) -> None:
    """Fold this generation's speeds into the model's running estimates."""

    def blend(old: float, new: float) -> float:
        return new if old <= 0 else 0.5 * old + 0.5 * new

    if timer.first_step is None:
        return
    prefill = timer.first_step - started
    if prefill > 0:
        loaded.prefill_tok_s = blend(loaded.prefill_tok_s, prompt_tokens / prefill)
    if timer.steps > 1 and timer.last_step is not None and timer.last_step > timer.first_step:
        rate = (timer.steps - 1) / (timer.last_step - timer.first_step)
        loaded.decode_tok_s = blend(loaded.decode_tok_s, rate)


def _pad_id(tokenizer: Any, eos: Sequence[int]) -> int | None:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    return eos[0] if eos else None


def _end_ids(tokenizer: Any, generation_config: Any) -> list[int]:
    """Token ids that end the answer: the model's eos ids, the tokenizer's, and the chat
    template's end-of-turn token when the vocabulary has one."""
    ids: list[int] = []
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.append(configured)
    elif isinstance(configured, list):
        ids.extend(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        if marker in vocab:
            ids.append(int(vocab[marker]))
    return list(dict.fromkeys(ids))


def build_llm_summariser(
    settings: Settings,
    fallback: Summariser,
    *,
    model_loader: ModelLoader | None = None,
    topics: TopicTitles | None = None,
    glossary: Sequence[GlossaryTerm] = (),
    light: bool = False,
) -> LlmSummariser:
    """The ``llm`` engine for ``settings``; ``fallback`` serves requests it cannot.

    ``topics``: the taxonomy's titles by topic id (one string or one per language);
    ``glossary``: terms as :func:`glossary_terms` makes them from the prompts' glossary (or
    plain lines). ``light`` uses ``[llm] light_model`` instead of ``[llm] model``.

    Raises :class:`ModelUnavailableError` (naming the model and the command that downloads
    it) when the model is not present, so the registry can fall back at once. The model is
    loaded on the first request (``model_loader(name)``; by default from the local directory
    or cache, once per process).
    """
    llm = settings.llm
    name = llm.light_model if light else llm.model
    if model_loader is None:
        try:
            resolve_model(name, settings.models.cache_dir)
        except ModelUnavailableError as exc:
            message = str(exc)
            if download_command(name) not in message and not is_local_name(name):
                message += f"; fetch it with: {download_command(name)}"
            raise ModelUnavailableError(f"LLM {name}: {message}", exc.remedy) from exc
    prompts = PromptBuilder(Path(settings.paths.prompts_dir) / "llm", topics, glossary)
    return LlmSummariser(
        llm, settings.models, fallback, prompts, model_name=name, model_loader=model_loader
    )
