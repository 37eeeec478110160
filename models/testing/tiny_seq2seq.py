"""Tiny, randomly initialised seq2seq models of every supported architecture, built offline.

Each model gets a tokenizer trained here with sentencepiece (byte-level BPE for BART, as
distilbart has) on the sample briefings, is saved with ``save_pretrained`` and is then loaded
by the product through exactly the path a downloaded model takes. The models are noise
generators: tests assert structure (windows, tokens forced, routes, order), never wording.

Layouts follow the real checkpoints:

- Marian (opus-mt): ``source.spm``/``target.spm``, ``vocab.json`` with ``</s>`` = 0,
  ``<unk>`` = 1 and ``<pad>`` as the last id (decoder start), as CTranslate2's converter expects;
- M2M100: ``sentencepiece.bpe.model`` + ``vocab.json``, language tokens ``__xx__`` after it;
- NLLB: M2M100 architecture with an NLLB tokenizer (``eng_Latn`` ... codes after the vocab);
- MT5: ``spiece.model`` (unigram; ``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2);
- BART: byte-level BPE ``vocab.json``/``merges.txt``.

The tokenizer trainers are shared with ``bench/seq2seq_speed.py``, which pads the trained
vocabularies to the real models' sizes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from settings import PROJECT_ROOT

SAMPLE_DIRS = (PROJECT_ROOT / "samples", PROJECT_ROOT.parent / "shared" / "samples")
# Every model's input window (positions): small, so that chunking is exercised.
WINDOW = 64
VOCAB = 500
MARIAN_DIRECTIONS = ("en-hi", "hi-en", "en-ru", "ru-en")

# Always part of the training text, so that all three scripts and the glossary names are in
# every vocabulary even when no sample files are present.
SEED_TEXT = """\
External Affairs Minister S Jaishankar met Russian Foreign Minister Sergey Lavrov in Moscow.
They discussed trade, energy, the International North-South Transport Corridor (INSTC) and the Eurasian Economic Union (EAEU).
India and Russia spoke about the United Nations Security Council (UNSC), BRICS and the Shanghai Cooperation Organisation.
विदेश मंत्री एस जयशंकर ने मास्को में रूस के विदेश मंत्री सर्गेई लावरोव से मुलाकात की।
उन्होंने व्यापार, ऊर्जा, अंतरराष्ट्रीय उत्तर-दक्षिण परिवहन गलियारे और यूरेशियाई आर्थिक संघ पर चर्चा की।
भारत और रूस ने संयुक्त राष्ट्र सुरक्षा परिषद, ब्रिक्स और शंघाई सहयोग संगठन के बारे में बात की।
Министр иностранных дел Индии С. Джайшанкар встретился в Москве с министром иностранных дел России Сергеем Лавровым.
Они обсудили торговлю, энергетику, международный транспортный коридор «Север — Юг» (МТК) и Евразийский экономический союз (ЕАЭС).
Индия и Россия говорили о Совете Безопасности ООН, БРИКС и Шанхайской организации сотрудничества.
"""


def training_text() -> str:
    parts = [SEED_TEXT]
    for folder in SAMPLE_DIRS:
        if folder.is_dir():
            parts.extend(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt")))
    return "\n".join(parts)


def train_spm(
    corpus: Path, prefix: Path, model_type: str, vocab_size: int = VOCAB, **ids: int
) -> Path:
    """A sentencepiece model ``prefix.model`` trained on ``corpus`` with the given special ids."""
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type=model_type,
        hard_vocab_limit=False,
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
        **ids,
    )
    Path(f"{prefix}.vocab").unlink(missing_ok=True)
    return Path(f"{prefix}.model")


def train_marian_tokenizer(
    path: Path, corpus: Path, trained: int = VOCAB, vocab_size: int | None = None
) -> int:
    """opus-mt's layout in ``path``: source/target.spm, vocab.json with ``</s>`` 0, ``<unk>`` 1
    and ``<pad>`` last (the decoder start), padded with unused ids up to ``vocab_size`` when
    given. Returns how many ids are real pieces."""
    import sentencepiece as spm
    from transformers import MarianTokenizer

    model_file = train_spm(
        corpus, path / "source", "unigram", trained, unk_id=1, eos_id=0, bos_id=-1, pad_id=-1
    )
    model_file.rename(path / "source.spm")
    shutil.copy(path / "source.spm", path / "target.spm")
    processor = spm.SentencePieceProcessor(model_file=str(path / "source.spm"))
    vocab = {processor.id_to_piece(i): i for i in range(processor.get_piece_size())}
    pieces = len(vocab)
    for i in range(pieces, (vocab_size or 0) - 1):
        vocab[f"<unused{i}>"] = i
    vocab["<pad>"] = len(vocab)
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*sacremoses.*")
        tokenizer = MarianTokenizer(
            source_spm=str(path / "source.spm"),
            target_spm=str(path / "target.spm"),
            vocab=str(path / "vocab.json"),
        )
    tokenizer.save_pretrained(path)
    return pieces


def train_bart_tokenizer(
    path: Path, corpus: Path, trained: int = VOCAB, vocab_size: int | None = None
) -> int:
    """Byte-level BPE (vocab.json + merges.txt), padded to ``vocab_size`` when given. Returns
    how many ids are real tokens."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import BartTokenizer

    trainer = ByteLevelBPETokenizer()
    trainer.train(
        [str(corpus)],
        vocab_size=trained,
        min_frequency=1,
        show_progress=False,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    trainer.save_model(str(path))
    vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
    learnt = len(vocab)
    for i in range(learnt, vocab_size or 0):
        vocab[f"<unused{i}>"] = i
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    BartTokenizer.from_pretrained(path).save_pretrained(path)
    return learnt


def _small(**extra: object) -> dict[str, object]:
    return {
        "d_model": 16,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 32,
        "decoder_ffn_dim": 32,
        "max_position_embeddings": WINDOW,
        **extra,
    }


def build_marian(path: Path, corpus: Path) -> Path:
    import torch
    from transformers import MarianConfig, MarianMTModel

    path.mkdir(parents=True)
    pad = train_marian_tokenizer(path, corpus)  # <pad> follows the pieces
    config = MarianConfig(
        vocab_size=pad + 1,
        pad_token_id=pad,
        eos_token_id=0,
        bos_token_id=0,
        decoder_start_token_id=pad,
        forced_eos_token_id=0,
        **_small(),
    )
    torch.manual_seed(0)
    model = MarianMTModel(config)
    model.generation_config.bad_words_ids = [[pad]]
    model.save_pretrained(path)
    return path


def build_m2m100(path: Path, corpus: Path) -> Path:
    import sentencepiece as spm
    from transformers import M2M100Tokenizer

    path.mkdir(parents=True)
    model_file = train_spm(
        corpus, path / "sentencepiece.bpe", "bpe", bos_id=0, pad_id=1, eos_id=2, unk_id=3
    )
    processor = spm.SentencePieceProcessor(model_file=str(model_file))
    vocab = {processor.id_to_piece(i): i for i in range(processor.get_piece_size())}
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = M2M100Tokenizer(vocab_file=str(path / "vocab.json"), spm_file=str(model_file))
    size = len(tokenizer.encoder) + len(tokenizer.lang_code_to_id) + tokenizer.num_madeup_words
    return _save_m2m100(path, tokenizer, size)


def build_nllb(path: Path, corpus: Path) -> Path:
    from transformers import NllbTokenizer
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    path.mkdir(parents=True)
    # NLLB's sentencepiece model: <unk> 0, <s> 1, </s> 2 (fairseq ids are these plus one).
    train_spm(corpus, path / "sentencepiece.bpe", "bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    tokenizer = NllbTokenizer.from_pretrained(
        path, extra_special_tokens=list(FAIRSEQ_LANGUAGE_CODES)
    )
    return _save_m2m100(path, tokenizer, len(tokenizer))


def _save_m2m100(path: Path, tokenizer: Any, vocab_size: int) -> Path:
    """A random M2M100 (the architecture of M2M100 and NLLB) and its tokenizer, saved."""
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    config = M2M100Config(
        vocab_size=vocab_size,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        **_small(),
    )
    torch.manual_seed(0)
    M2M100ForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_mt5(path: Path, corpus: Path) -> Path:
    import torch
    from transformers import MT5Config, MT5ForConditionalGeneration, T5Tokenizer

    path.mkdir(parents=True)
    train_spm(corpus, path / "spiece", "unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    tokenizer = T5Tokenizer.from_pretrained(path, extra_ids=0)
    tokenizer.model_max_length = WINDOW  # T5 has no position table: the tokenizer sets the limit
    config = MT5Config(
        vocab_size=len(tokenizer),
        d_model=16,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=2,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    torch.manual_seed(0)
    MT5ForConditionalGeneration(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_bart(path: Path, corpus: Path) -> Path:
    import torch
    from transformers import BartConfig, BartForConditionalGeneration, BartTokenizer

    path.mkdir(parents=True)
    train_bart_tokenizer(path, corpus)
    tokenizer = BartTokenizer.from_pretrained(path)
    config = BartConfig(
        vocab_size=len(tokenizer),
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_bos_token_id=0,
        **_small(),
    )
    torch.manual_seed(0)
    BartForConditionalGeneration(config).save_pretrained(path)
    return path


def build_all(root: Path | None = None) -> dict[str, Path]:
    """Every tiny model under ``root``: marian-en-hi ... marian-ru-en, m2m100, nllb, mt5, bart."""
    root = Path(root or tempfile.mkdtemp(prefix="tiny-models-"))
    root.mkdir(parents=True, exist_ok=True)
    corpus = root / "corpus.txt"
    corpus.write_text(training_text(), encoding="utf-8")
    models = {
        "m2m100": build_m2m100(root / "m2m100", corpus),
        "nllb": build_nllb(root / "nllb", corpus),
        "mt5": build_mt5(root / "mt5", corpus),
        "bart": build_bart(root / "bart", corpus),
    }
    first = build_marian(root / f"marian-{MARIAN_DIRECTIONS[0]}", corpus)
    models[f"marian-{MARIAN_DIRECTIONS[0]}"] = first
    for direction in MARIAN_DIRECTIONS[1:]:
        models[f"marian-{direction}"] = Path(shutil.copytree(first, root / f"marian-{direction}"))
    return models


if __name__ == "__main__":
    import sys

    for name, path in build_all(Path(sys.argv[1]) if len(sys.argv) > 1 else None).items():
        print(f"{name}\t{path}")
