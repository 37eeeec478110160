"""Scores of system texts against references, for English, Hindi and Russian.

- ROUGE-1, ROUGE-2 and ROUGE-L (F1), on word tokens that work for Devanagari (vowel signs
  and virama are combining marks, which ``\\w`` alone splits on) and Cyrillic, lower-cased,
  numbers kept, no stemming (no stemmer is fair to all three languages);
- chrF and BLEU from sacrebleu (BLEU tokenised with ``13a`` for English and ``intl`` for
  Hindi and Russian, where ``13a`` does not separate Unicode punctuation such as ``।``).

ROUGE is the mean over documents; chrF and BLEU are corpus scores.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"[\w\u0900-\u0963\u0966-\u097F\u200c\u200d]+(?:['’][\w\u0900-\u097F]+)*")


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(unicodedata.normalize("NFC", text))]


def _f1(overlap: int, hyp: int, ref: int) -> float:
    if overlap == 0 or hyp == 0 or ref == 0:
        return 0.0
    precision, recall = overlap / hyp, overlap / ref
    return 2 * precision * recall / (precision + recall)


def rouge_n(hypothesis: str, reference: str, n: int) -> float:
    def grams(words: list[str]) -> Counter[tuple[str, ...]]:
        return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))

    hyp, ref = grams(tokens(hypothesis)), grams(tokens(reference))
    overlap = sum((hyp & ref).values())
    return _f1(overlap, sum(hyp.values()), sum(ref.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(hypothesis: str, reference: str) -> float:
    hyp, ref = tokens(hypothesis), tokens(reference)
    return _f1(lcs_length(hyp, ref), len(hyp), len(ref))


def bleu_tokenizer(language: str) -> str:
    return "13a" if language == "en" else "intl"


@dataclass(frozen=True, slots=True)
class Scores:
    count: int
    rouge1: float
    rouge2: float
    rougeL: float
    chrf: float
    bleu: float

    def as_dict(self) -> dict[str, float]:
        return {
            "n": self.count,
            "rouge1": round(self.rouge1, 2),
            "rouge2": round(self.rouge2, 2),
            "rougeL": round(self.rougeL, 2),
            "chrF": round(self.chrf, 2),
            "BLEU": round(self.bleu, 2),
        }


def score(hypotheses: Sequence[str], references: Sequence[str], language: str) -> Scores:
    """All metrics (0-100) for aligned hypotheses and references in ``language``."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        return Scores(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    n = len(hypotheses)
    pairs = list(zip(hypotheses, references, strict=True))
    r1 = sum(rouge_n(h, r, 1) for h, r in pairs) / n
    r2 = sum(rouge_n(h, r, 2) for h, r in pairs) / n
    rl = sum(rouge_l(h, r) for h, r in pairs) / n
    hyps = [" ".join(h.split()) for h in hypotheses]
    refs = [" ".join(r.split()) for r in references]
    chrf = sacrebleu.corpus_chrf(hyps, [refs]).score
    bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize=bleu_tokenizer(language)).score
    return Scores(n, 100 * r1, 100 * r2, 100 * rl, chrf, bleu)
