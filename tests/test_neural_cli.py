"""``models list|download|verify`` and ``eval``, on tiny models and made-up references."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pytest

from cli.main import main
from models.text.metrics import rouge_l, rouge_n, score, tokens
from tests.neural_fixtures import write_config

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("isolated_hf_cache")]

REFERENCES = {
    "a.en.txt": "The ministers discussed trade and energy in Moscow.",
    "a.hi.txt": "मंत्रियों ने मास्को में व्यापार और ऊर्जा पर चर्चा की।",
    "a.ru.txt": "Министры обсудили в Москве торговлю и энергетику.",
}


def test_verify_passes_on_the_tiny_models(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "tiny.toml", tiny_models)
    assert main(["--config", str(config), "models", "verify"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(("OK", "FAIL"))]
    assert len(lines) == 5 and all(line.startswith("OK") for line in lines)
    assert "[translation hi-en]" in out and "[summarisation (english)]" in out
    multilingual = write_config(tmp_path / "multi.toml", tiny_models, multilingual=True)
    assert main(["--config", str(multilingual), "models", "verify"]) == 0
    out = capsys.readouterr().out
    assert "nllb" in out and "mt5" in out and "FAIL" not in out


def test_verify_fails_clearly_on_a_broken_directory(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = Path(shutil.copytree(tiny_models["marian-en-hi"], tmp_path / "broken-opus"))
    (broken / "model.safetensors").write_bytes(b"\0" * 64)
    config = write_config(tmp_path / "tiny.toml", tiny_models)
    code = main(
        ["--config", str(config), "models", "verify", str(broken), str(tiny_models["bart"])]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert f"FAIL {broken}" in captured.out and "could not be loaded" in captured.out
    assert f"OK   {tiny_models['bart']}" in captured.out
    assert "1 of 2 model(s) failed verification" in captured.err


def test_verify_names_the_download_command_for_missing_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFING_DIGEST_MODELS__CACHE_DIR", str(tmp_path))
    assert main(["models", "verify", "facebook/m2m100_418M"]) == 1
    assert "briefing-digest models download facebook/m2m100_418M" in capsys.readouterr().out


def test_list_shows_presence_size_and_licence(
    tiny_models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path / "tiny.toml", tiny_models)
    assert main(["--config", str(config), "models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    seq2seq = [r for r in rows if not r["role"].startswith("llm engine")]
    assert len(seq2seq) == 5 and all(r["present"] and r["size"] > 0 for r in seq2seq)
    # The LLM the llm engine uses is listed too (the bundled Qwen, not downloaded here).
    llm = [r for r in rows if r["role"] == "llm engine"]
    assert [r["model"] for r in llm] == ["Qwen/Qwen2.5-1.5B-Instruct"]
    assert llm[0]["licence"] == "Apache-2.0" and not llm[0]["present"]
    # The bundled defaults: not downloaded here; the licences are known.
    monkeypatch.setenv("BRIEFING_DIGEST_MODELS__CACHE_DIR", str(tmp_path))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "Helsinki-NLP/opus-mt-en-hi" in out and "missing" in out and "CC-BY-4.0" in out
    assert "sshleifer/distilbart-cnn-12-6" in out and "Apache-2.0" in out
    assert "briefing-digest models download" in out
    assert "(non-commercial)" not in out  # the default profile is commercial-friendly
    monkeypatch.setenv("BRIEFING_DIGEST_TRANSLATION__KIND", "multilingual")
    monkeypatch.setenv(
        "BRIEFING_DIGEST_TRANSLATION__MULTILINGUAL_MODEL", "facebook/nllb-200-distilled-600M"
    )
    assert main(["models", "list"]) == 0
    assert "CC-BY-NC-4.0 (non-commercial)" in capsys.readouterr().out


def test_download_respects_offline_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["models", "download", "facebook/m2m100_418M"]) == 2
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err


def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_download_without_a_hub_is_one_quick_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("BRIEFING_DIGEST_MODELS__CACHE_DIR", str(tmp_path))
    started = time.monotonic()
    assert main(["models", "download"]) == 2
    # One check, no retries (a retrying client takes 25 s here).
    assert time.monotonic() - started < 10
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and not captured.out
    assert f"cannot reach the model hub ({endpoint}: " in lines[0]
    assert f"set HF_ENDPOINT or copy the model directory to {tmp_path}/Helsinki-NLP--" in lines[0]


def test_download_of_a_name_in_no_catalogue_needs_any(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    assert main(["models", "download", "facebok/m2m100_418M"]) == 2
    err = capsys.readouterr().err
    assert "not in the catalogue: facebok/m2m100_418M" in err and "--any" in err
    # With --any it goes on, to the hub (unreachable here); documented names need no --any.
    for argv in (["facebok/m2m100_418M", "--any"], ["Qwen/Qwen2.5-0.5B-Instruct"]):
        assert main(["models", "download", *argv]) == 2
        assert "cannot reach the model hub" in capsys.readouterr().err


def test_download_skips_local_directories(
    tiny_models: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert main(["models", "download", str(tiny_models["bart"])]) == 0
    assert "a local directory, nothing to download" in capsys.readouterr().out


def test_eval_scores_ready_made_outputs_per_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refs, hyps = tmp_path / "refs", tmp_path / "hyps"
    refs.mkdir()
    hyps.mkdir()
    for name, text in REFERENCES.items():
        (refs / name).write_text(text, encoding="utf-8")
        (hyps / name).write_text(text, encoding="utf-8")
    (hyps / "a.ru.txt").write_text("Министры обсудили торговлю.", encoding="utf-8")
    out_json = tmp_path / "scores.json"
    assert main(["eval", "--refs", str(refs), "--hyps", str(hyps), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "== en (BLEU tokenize=13a) ==" in out and "== hi (BLEU tokenize=intl) ==" in out
    scores = json.loads(out_json.read_text(encoding="utf-8"))
    assert scores["en"]["all"]["rouge1"] == 100.0 and scores["hi"]["all"]["chrF"] == 100.0
    assert 0 < scores["ru"]["all"]["rougeL"] < 100


def test_eval_warns_when_outputs_are_in_another_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refs, hyps = tmp_path / "refs", tmp_path / "hyps"
    refs.mkdir()
    hyps.mkdir()
    (refs / "a.ru.txt").write_text(REFERENCES["a.ru.txt"], encoding="utf-8")
    (refs / "a.en.txt").write_text(REFERENCES["a.en.txt"], encoding="utf-8")
    # The Russian output is English: it cannot share a word with its reference.
    (hyps / "a.ru.txt").write_text(REFERENCES["a.en.txt"], encoding="utf-8")
    (hyps / "a.en.txt").write_text(REFERENCES["a.en.txt"], encoding="utf-8")
    assert main(["eval", "--refs", str(refs), "--hyps", str(hyps)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert "a (ru reference): the output is in en" in warnings[0]


def test_eval_translates_parallel_references(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refs = tmp_path / "refs"
    refs.mkdir()
    for name, text in REFERENCES.items():
        (refs / name).write_text(text, encoding="utf-8")
    config = write_config(tmp_path / "tiny.toml", tiny_models)
    assert main(["--config", str(config), "eval", "--refs", str(refs), "--translate"]) == 0
    out = capsys.readouterr().out
    for row in ("hi->en", "ru->en", "en->hi", "ru->hi", "en->ru", "hi->ru"):
        assert row in out


def test_eval_digests_transcripts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from settings import PROJECT_ROOT

    refs, sources = tmp_path / "refs", tmp_path / "sources"
    refs.mkdir()
    sources.mkdir()
    shutil.copy(PROJECT_ROOT / "samples" / "en_briefing.txt", sources / "brief.txt")
    (refs / "brief.en.txt").write_text(REFERENCES["a.en.txt"], encoding="utf-8")
    code = main(["eval", "--refs", str(refs), "--sources", str(sources), "--engine", "extractive"])
    assert code == 0
    assert "brief" in capsys.readouterr().out


def test_eval_refuses_an_empty_reference_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--refs", str(tmp_path), "--hyps", str(tmp_path)]) == 2
    assert "no reference files" in capsys.readouterr().err


def test_rouge_tokenises_devanagari_and_cyrillic() -> None:
    # Vowel signs and virama are combining marks: words must not break at them.
    assert tokens("मंत्रियों ने चर्चा की।") == ["मंत्रियों", "ने", "चर्चा", "की"]
    assert tokens("Министры ОБСУДИЛИ 2024") == ["министры", "обсудили", "2024"]
    assert rouge_n("मंत्रियों ने चर्चा की", "मंत्रियों ने चर्चा की", 2) == 1.0
    assert rouge_n("a b", "c d", 1) == 0.0
    assert rouge_l("a x b y c", "a b c") == pytest.approx(2 * 0.6 * 1.0 / 1.6)
    assert score([], [], "en").count == 0
