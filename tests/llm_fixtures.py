"""A tiny, randomly initialised chat LLM of the default architecture (Qwen2), built offline.

The tokenizer is a byte-level BPE trained here on the sample briefings, wrapped in
``PreTrainedTokenizerFast`` with a ChatML chat template and the ``<|im_start|>`` /
``<|im_end|>`` special tokens, as Qwen2.5 has. Model and tokenizer are saved with
``save_pretrained`` and loaded back by the product's own loading path, exactly as a
downloaded model is: never from the hub. The model writes noise; tests use it for prompt
rendering, token counts, the generation loop and the fallback, and replace its answers with
written-out ones where they need a valid digest.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from models.base import Point, SourceSentence, SummaryRequest, SummaryResult

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = PROJECT_ROOT / "samples"
VOCAB = 1200
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Qwen2.5's template, shortened: a default system turn and the assistant turn opened.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# JSON punctuation and keys, so that written-out answers tokenize compactly too.
SEED_TEXT = """\
{"headline": "...", "topics": [{"id": "trade", "bullets": [{"text": "...", "evidence": [4, 9]}]}]}
Sergey Lavrov S. Jaishankar Сергей Лавров С. Джайшанкар सर्गेई लावरोव एस. जयशंकर
"""
_SENTENCE_END = re.compile(r"(?<=[.!?।])\s+")


def training_text() -> str:
    parts = [SEED_TEXT]
    parts.extend(p.read_text(encoding="utf-8") for p in sorted(SAMPLES.glob("*.txt")))
    # Templates are part of every prompt: train on them too.
    parts.extend(
        p.read_text(encoding="utf-8")
        for p in sorted((PROJECT_ROOT / "prompts" / "llm").glob("*.j2"))
    )
    return "\n".join(parts)


def build_tiny_qwen(path: Path, *, max_positions: int = 8192) -> Path:
    """Tokenizer + 1-layer Qwen2 with random weights, saved to ``path``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(training_text().splitlines(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=max_positions,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(path)

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[config.eos_token_id], pad_token_id=config.pad_token_id
    )
    model.save_pretrained(path)
    return path


_LOCK = threading.Lock()
_BUILT: dict[str, Path] = {}


def tiny_qwen() -> Path:
    """The tiny model's directory, built once per process (removed at exit)."""
    with _LOCK:
        if "qwen" not in _BUILT:
            root = Path(tempfile.mkdtemp(prefix="briefing-tiny-llm-"))
            atexit.register(shutil.rmtree, root, ignore_errors=True)
            _BUILT["qwen"] = build_tiny_qwen(root / "tiny-qwen2")
        return _BUILT["qwen"]


# -- requests and a stand-in fallback ---------------------------------------------------------
def sample_request(
    language: str, *, limit: int | None = None, topics: int = 4, max_points: int = 2
) -> SummaryRequest:
    """A request from ``samples/LANG_briefing.txt``: naive sentences, topics dealt round-robin."""
    text = (SAMPLES / f"{language}_briefing.txt").read_text(encoding="utf-8")
    pieces = [p.strip() for line in text.splitlines() for p in _SENTENCE_END.split(line)]
    pieces = [p for p in pieces if len(p.split()) >= 3][:limit]
    sentences = [SourceSentence(i, p, language) for i, p in enumerate(pieces)]
    ids = [s.id for s in sentences]
    names = ["trade", "energy", "consular", "connectivity", "defence", "multilateral"][:topics]
    groups = [(name, ids[n :: len(names)]) for n, name in enumerate(names)]
    return SummaryRequest(language, sentences, groups, max_points=max_points)


TOPIC_TITLES: dict[str, dict[str, str]] = {
    "trade": {"en": "Trade & economy", "hi": "व्यापार और अर्थव्यवस्था", "ru": "Торговля и экономика"},
    "energy": {"en": "Energy", "hi": "ऊर्जा", "ru": "Энергетика"},
    "consular": {"en": "Consular matters", "hi": "कांसुलर मामले", "ru": "Консульские вопросы"},
    "connectivity": {"en": "Connectivity", "hi": "संपर्क", "ru": "Транспорт"},
}
GLOSSARY: list[dict[str, list[str]]] = [
    {
        "en": ["Sergey Lavrov", "Lavrov"],
        "hi": ["सर्गेई लावरोव", "लावरोव"],
        "ru": ["Сергей Лавров", "Лавров", "Лаврова"],
    },
    {"en": ["Moscow"], "hi": ["मास्को", "मॉस्को"], "ru": ["Москва", "Москве"]},
]


class RecordingFallback:
    """The fallback engine: first sentence of each topic, and a record of every call."""

    name = "extractive"

    def __init__(self) -> None:
        self.calls: list[SummaryRequest] = []

    def summarise(self, request: SummaryRequest) -> SummaryResult:
        self.calls.append(request)
        by_id = {s.id: s for s in request.sentences}
        points = {tid: [Point(by_id[ids[0]].text, (ids[0],))] for tid, ids in request.topics if ids}
        first = request.sentences[0]
        return SummaryResult(
            Point(first.text, (first.id,)),
            points,
            request.language,
            self.name,
            route=[f"extract:{request.language}"],
        )


def digest_json(request: SummaryRequest, texts: dict[str, Any] | None = None) -> str:
    """A well-formed answer for ``request``: one bullet per topic citing its first sentence."""
    import json

    words = {
        "en": "The sides discussed {} in detail.",
        "ru": "Стороны подробно обсудили {}.",
        "hi": "दोनों पक्षों ने {} पर विस्तार से चर्चा की।",
    }[request.language]
    topics = [
        {
            "id": tid,
            "bullets": [
                {"text": words.format((texts or {}).get(tid, tid.upper())), "evidence": [ids[0]]}
            ],
        }
        for tid, ids in request.topics
        if ids
    ]
    headline = {
        "en": "Ministers reviewed the partnership.",
        "ru": "Министры обсудили партнёрство.",
        "hi": "मंत्रियों ने साझेदारी की समीक्षा की।",
    }[request.language]
    return json.dumps({"headline": headline, "topics": topics}, ensure_ascii=False)
