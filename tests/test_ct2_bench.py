"""``briefing-digest bench``: the smoke run CI can afford, and the configurations it builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.bench_cmd import _harness
from cli.main import main

pytestmark = [pytest.mark.slow]

# The real checkpoints' shapes the benchmark must build (d_model, layers, heads, ffn, vocab).
REAL_SHAPES = {
    "opus-mt-en-hi": ("marian", 512, 6, 6, 8, 2048, 61950),
    "opus-mt-en-ru": ("marian", 512, 6, 6, 8, 2048, 62518),
    "nllb-200-distilled-600M": ("m2m_100", 1024, 12, 12, 16, 4096, 256206),
    "distilbart-cnn-12-6": ("bart", 1024, 12, 6, 16, 4096, 50264),
}


def test_configurations_are_the_real_architectures() -> None:
    harness = _harness()
    assert harness is not None
    for name, (kind, d_model, enc, dec, heads, ffn, vocab) in REAL_SHAPES.items():
        values, meta = harness.load_config(name, shrink=False)
        assert values["model_type"] == kind and values["d_model"] == d_model
        assert (values["encoder_layers"], values["decoder_layers"]) == (enc, dec)
        assert values["encoder_attention_heads"] == heads and values["encoder_ffn_dim"] == ffn
        assert values["vocab_size"] == vocab and meta["task"]
    mt5, meta = harness.load_config("mt5-base", shrink=False)
    assert (mt5["d_model"], mt5["num_layers"], mt5["num_decoder_layers"]) == (768, 12, 12)
    assert (mt5["num_heads"], mt5["d_ff"], mt5["vocab_size"]) == (12, 2048, 250112)
    assert mt5["feed_forward_proj"] == "gated-gelu" and meta["task"] == "summarisation"
    # Shrunk for --smoke, the ids at the end of a vocabulary stay at its end.
    tiny, meta = harness.load_config("nllb-200-distilled-600M", shrink=True)
    assert meta["forced_bos_token_id"] < tiny["vocab_size"]
    tiny, _ = harness.load_config("opus-mt-en-hi", shrink=True)
    assert tiny["pad_token_id"] == tiny["vocab_size"] - 1 == tiny["bad_words_ids"][0][0]
    with pytest.raises(ValueError, match="unknown backend"):
        harness.parse_backend("onnx-int8")


def test_smoke_run_reports_every_backend_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "--smoke", "--json", str(out), "--work", str(tmp_path / "work")]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "TOKENS/S" in table and "ctranslate2-int8" in table and "end to end" in table
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["mode"] == "smoke" and report["machine"]["cores"] >= 1
    for name in ("opus-mt-en-hi", "nllb-200-distilled-600M"):
        backends = report["models"][name]["backends"]
        assert set(backends) == {"transformers-fp32", "ctranslate2-int8"}
        for result in backends.values():
            assert result["tokens_per_s"] > 0 and result["peak_rss_mb"] > 0
            assert (
                result["tokens"]
                == report["models"][name]["inputs"] * (report["models"][name]["output_tokens"])
            )
        assert backends["transformers-fp32"]["speedup"] == 1.0
        assert backends["ctranslate2-int8"]["speedup"] > 0
    e2e = report["end_to_end"]
    for label in ("transformers-fp32", "ctranslate2-int8"):
        assert e2e[label]["digest_s"] > 0 and e2e[label]["engine"] == "neural"
        assert set(e2e[label]["bullets"]) == {"en", "hi", "ru"}
    # The pipeline itself says which backend ran.
    assert e2e["ctranslate2-int8"]["route"]["hi"][-1] == "translate:en->hi:opus-mt:ctranslate2-int8"
    assert e2e["transformers-fp32"]["route"]["hi"][-1] == "translate:en->hi:opus-mt"
