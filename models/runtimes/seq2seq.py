"""Generation with a loaded seq2seq model: windows, batches, map-reduce.

- :func:`pack` splits text units (sentences, words) into chunks whose token count stays
  under the model's window; a unit longer than the window is split at word (then character)
  boundaries, so nothing is ever cut off.
- :class:`Seq2SeqRunner.generate` batches inputs grouped by length and returns outputs in
  input order.
- :func:`map_reduce` summarises texts longer than one window: each window is summarised,
  then the partial summaries, until one window holds them all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from models.runtimes.hf_loading import LoadedModel
from settings.schema import GenerationSettings

log = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?…।॥])[\"»”’')\]]*\s+")
# A map-reduce that has not converged after this many rounds keeps its partial summaries.
MAX_ROUNDS = 6


def split_sentences(text: str) -> list[str]:
    """Sentences of generated (or short) text, at ., !, ?, …, । and ॥ followed by a space."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s and s.strip()]


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    # Indices of the units it holds (a unit split across chunks appears in each).
    members: tuple[int, ...]


def pack(units: Sequence[str], count: Callable[[str], int], budget: int) -> list[Chunk]:
    """Consecutive ``units`` joined by spaces into chunks of at most ``budget`` tokens.

    Token counts of joined text can differ slightly from the sum of the parts, so every
    chunk is measured as joined and split again if it is over.
    """
    if budget < 1:
        raise ValueError(f"token budget must be positive, got {budget}")
    pieces: list[tuple[str, int, int]] = []  # (text, member index, tokens)
    for index, unit in enumerate(units):
        unit = unit.strip()
        if not unit:
            continue
        tokens = count(unit)
        if tokens <= budget:
            pieces.append((unit, index, tokens))
        else:
            pieces.extend((text, index, n) for text, n in _split_long(unit, count, budget))
    chunks: list[list[tuple[str, int, int]]] = []
    current: list[tuple[str, int, int]] = []
    used = 0
    for piece in pieces:
        # One token of slack per joint: joining can merge or add a boundary token.
        if current and used + piece[2] + len(current) > budget:
            chunks.append(current)
            current, used = [], 0
        current.append(piece)
        used += piece[2]
    if current:
        chunks.append(current)
    result: list[Chunk] = []
    for group in chunks:
        result.extend(_fit(group, count, budget))
    return result


def _fit(
    group: list[tuple[str, int, int]], count: Callable[[str], int], budget: int
) -> list[Chunk]:
    text = " ".join(p[0] for p in group)
    if len(group) == 1 or count(text) <= budget:
        return [Chunk(text, tuple(dict.fromkeys(p[1] for p in group)))]
    half = len(group) // 2
    return _fit(group[:half], count, budget) + _fit(group[half:], count, budget)


def _split_long(text: str, count: Callable[[str], int], budget: int) -> list[tuple[str, int]]:
    """Pieces of one over-long unit: by words, and a word over the budget by characters."""
    words = text.split()
    if len(words) > 1:
        chunks = pack(words, count, budget)
        return [(c.text, count(c.text)) for c in chunks]
    # One enormous "word" (a URL, a run of symbols): halve it until each piece fits.
    if len(text) <= 1:
        return [(text, count(text))]
    middle = len(text) // 2
    out = []
    for part in (text[:middle], text[middle:]):
        n = count(part)
        out.extend([(part, n)] if n <= budget else _split_long(part, count, budget))
    return out


class Seq2SeqRunner:
    """One loaded model with its generation settings."""

    def __init__(
        self,
        loaded: LoadedModel,
        generation: GenerationSettings,
        batch_size: int = 8,
        prefix: str = "",
    ) -> None:
        self.loaded = loaded
        self.generation = generation
        self.batch_size = batch_size
        self.prefix = prefix
        self.window = loaded.window(generation.max_input_tokens)
        tokenizer = loaded.tokenizer
        self._overhead = tokenizer.num_special_tokens_to_add(pair=False)
        if prefix:
            self._overhead += self.count(prefix)
        self.budget = max(1, self.window - self._overhead)
        self._drop = _non_text_ids(loaded)
        # The decoder has a position table too: outputs stop before it ends (start and
        # forced language tokens take the first positions).
        positions = getattr(loaded.model.config, "max_position_embeddings", None)
        self.max_output = positions - 2 if isinstance(positions, int) and positions > 8 else None

    @property
    def name(self) -> str:
        return self.loaded.name

    def count(self, text: str) -> int:
        """Tokens of ``text`` without special tokens."""
        encoded = self.loaded.tokenizer(text, add_special_tokens=False, verbose=False)
        return len(encoded["input_ids"])

    def chunks(self, units: Sequence[str]) -> list[Chunk]:
        """``units`` packed into inputs that fit the window (prefix and special tokens included)."""
        return pack(units, self.count, self.budget)

    def generate(
        self,
        texts: Sequence[str],
        *,
        max_new_tokens: int | None = None,
        source_code: str | None = None,
        forced_bos_token_id: int | None = None,
    ) -> list[str]:
        """One output per input, in input order; inputs must fit the window (see :meth:`chunks`).

        Inputs are sorted by length and batched, so that padding is small; ``source_code``
        sets a multilingual tokenizer's source language, ``forced_bos_token_id`` the target.
        """
        results = [""] * len(texts)
        todo = [i for i, t in enumerate(texts) if t.strip()]
        if not todo:
            return results
        with self.loaded.lock:
            inputs = [self.prefix + texts[i].strip() for i in todo]
            lengths = [len(ids) for ids in self.encode(inputs, source_code)]
            order = sorted(range(len(todo)), key=lambda k: -lengths[k])
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                outputs = self._generate_batch(
                    [inputs[k] for k in batch], max_new_tokens, forced_bos_token_id
                )
                for k, text in zip(batch, outputs, strict=True):
                    results[todo[k]] = text
        return results

    def generation_kwargs(
        self, max_new_tokens: int | None = None, forced_bos_token_id: int | None = None
    ) -> dict[str, Any]:
        g = self.generation
        kwargs: dict[str, Any] = {
            "num_beams": g.num_beams,
            "max_new_tokens": self.output_limit(max_new_tokens),
            "do_sample": False,
        }
        if g.min_new_tokens:
            kwargs["min_new_tokens"] = min(g.min_new_tokens, kwargs["max_new_tokens"])
        if g.no_repeat_ngram_size:
            kwargs["no_repeat_ngram_size"] = g.no_repeat_ngram_size
        if g.num_beams > 1:
            kwargs["length_penalty"] = g.length_penalty
            kwargs["early_stopping"] = True
        if forced_bos_token_id is not None:
            kwargs["forced_bos_token_id"] = forced_bos_token_id
        return kwargs

    def output_limit(self, max_new_tokens: int | None = None) -> int:
        """New tokens an output may take: as asked, else as configured, and never past the
        decoder's position table."""
        limit = max_new_tokens or self.generation.max_new_tokens
        return limit if self.max_output is None else min(limit, self.max_output)

    def encode(self, inputs: Sequence[str], source_code: str | None = None) -> list[list[int]]:
        """Token ids of each input (prefix included), in the source language ``source_code``
        of a multilingual tokenizer; the caller holds the model's lock (the tokenizer's source
        language is shared state). Raises ValueError for an input past the window."""
        tokenizer = self.loaded.tokenizer
        if source_code is not None:
            tokenizer.src_lang = source_code
        encoded: list[list[int]] = tokenizer(list(inputs), verbose=False)["input_ids"]
        too_long = [len(ids) for ids in encoded if len(ids) > self.window]
        if too_long:
            raise ValueError(
                f"input of {max(too_long)} tokens exceeds the {self.window}-token window of "
                f"{self.name}; split it with chunks() first"
            )
        return encoded

    def decode(self, rows: Sequence[Sequence[int]]) -> list[str]:
        """The text of each row of generated ids, without ids that are never text (special,
        language and padding ids), white space folded."""
        drop = self._drop
        kept = [[t for t in row if t not in drop] for row in rows]
        texts = self.loaded.tokenizer.batch_decode(kept, skip_special_tokens=True)
        return [" ".join(t.split()) for t in texts]

    def _generate_batch(
        self, inputs: list[str], max_new_tokens: int | None, forced_bos_token_id: int | None
    ) -> list[str]:
        tokenizer = self.loaded.tokenizer
        encoded = tokenizer(inputs, return_tensors="pt", padding=True)
        encoded = {k: v.to(self.loaded.device) for k, v in encoded.items() if k != "token_type_ids"}
        kwargs = self.generation_kwargs(max_new_tokens, forced_bos_token_id)
        import torch

        with torch.inference_mode():
            output = self.loaded.model.generate(**encoded, **kwargs)
        return self.decode([row.tolist() for row in output])


def _non_text_ids(loaded: LoadedModel) -> frozenset[int]:
    """Special, language-code and out-of-vocabulary ids, which are never part of the text."""
    cached = loaded.extras.get("non_text_ids")
    if cached is None:
        tokenizer = loaded.tokenizer
        ids = set(tokenizer.all_special_ids)
        ids.add(tokenizer.unk_token_id)
        ids.update(getattr(tokenizer, "lang_code_to_id", {}).values())
        # Rows of the output layer no token maps to (M2M100's "made-up words", padding rows).
        known = set(tokenizer.get_vocab().values())
        size = getattr(loaded.model.config, "vocab_size", 0) or 0
        ids.update(i for i in range(size) if i not in known)
        cached = loaded.extras["non_text_ids"] = frozenset(i for i in ids if i is not None)
    return cached


@dataclass(frozen=True, slots=True)
class Reduced:
    text: str
    # Map-reduce rounds taken (1: the text fitted one window).
    rounds: int
    # Windows in the first round.
    windows: int


def map_reduce(
    runner: Seq2SeqRunner,
    documents: Sequence[Sequence[str]],
    *,
    source_code: str | None = None,
    forced_bos_token_id: int | None = None,
    max_rounds: int = MAX_ROUNDS,
) -> list[Reduced]:
    """Summarise each document (a list of sentences) whatever its length.

    A document that fits one window is summarised once. A longer one is summarised window
    by window (each partial summary kept to half a window, so that at least two fit the next
    window), and the partial summaries are summarised the same way until one window holds
    them. If a round makes no progress, or after ``max_rounds``, the partial summaries are
    the result: nothing is dropped. All documents of a round are generated together,
    batched by length.
    """
    final_tokens = runner.generation.max_new_tokens
    partial_tokens = max(4, min(final_tokens, runner.budget // 2))
    units: list[list[str]] = [[s for s in doc if s.strip()] for doc in documents]
    results: list[Reduced] = [Reduced("", 0, 0)] * len(units)
    windows = [0] * len(units)
    previous: dict[int, int] = {}
    active = [i for i, doc in enumerate(units) if doc]
    round_no = 0
    while active:
        round_no += 1
        plans = {i: runner.chunks(units[i]) for i in active}
        jobs: dict[int, list[tuple[int, int]]] = {}  # max_new_tokens -> (document, chunk)
        for i in list(active):
            windows[i] = windows[i] or len(plans[i])
            stalled = len(plans[i]) > 1 and (
                round_no > max_rounds or len(plans[i]) >= previous.get(i, len(plans[i]) + 1)
            )
            if stalled:
                log.warning(
                    "map-reduce stopped; keeping the partial summaries",
                    extra={"model": runner.name, "parts": len(units[i])},
                )
                results[i] = Reduced(" ".join(units[i]), round_no - 1, windows[i])
                active.remove(i)
                continue
            previous[i] = len(plans[i])
            tokens = final_tokens if len(plans[i]) == 1 else partial_tokens
            jobs.setdefault(tokens, []).extend((i, c) for c in range(len(plans[i])))
        outputs: dict[tuple[int, int], str] = {}
        for tokens, pairs in jobs.items():
            generated = runner.generate(
                [plans[i][c].text for i, c in pairs],
                max_new_tokens=tokens,
                source_code=source_code,
                forced_bos_token_id=forced_bos_token_id,
            )
            outputs.update(zip(pairs, generated, strict=True))
        still = []
        for i in active:
            parts = [outputs[(i, c)] for c in range(len(plans[i]))]
            if len(parts) == 1:
                results[i] = Reduced(parts[0], round_no, windows[i])
            elif any(parts):
                units[i] = [p for p in parts if p]
                still.append(i)
            else:
                results[i] = Reduced("", round_no, windows[i])
        active = still
    return results
