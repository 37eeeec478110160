"""The CTranslate2 backend: same greedy tokens as transformers, conversion, backend choice."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cli.main import main
from digest.pipeline import Pipeline
from models.base import ModelUnavailableError
from models.engines.translation import build_translator, language_codes
from models.runtimes.ct2_backend import (
    ConversionError,
    CT2Model,
    CT2Runner,
    convert,
    converted_dir,
    make_runner,
    parallel_batch_size,
    thread_counts,
)
from models.runtimes.hf_loading import ModelCache, load_model
from models.runtimes.seq2seq import Seq2SeqRunner
from settings import Settings
from settings.schema import GenerationSettings, ModelsSettings
from tests.conftest import sample
from tests.neural_fixtures import directions, tiny_settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("isolated_hf_cache")]

INPUTS = [
    "External Affairs Minister S Jaishankar met Russian Foreign Minister Sergey Lavrov in Moscow.",
    "They discussed trade, energy and the International North-South Transport Corridor.",
    "India and Russia spoke about BRICS.",
    "Они обсудили торговлю, энергетику и Евразийский экономический союз (ЕАЭС).",
]
FAMILIES = ["marian-en-hi", "m2m100", "nllb", "bart", "mt5"]
PIPELINE_MODELS = ["marian-en-hi", "marian-en-ru", "bart"]


def layout(root: Path, compute_type: str, backend: str = "auto") -> ModelsSettings:
    # One thread: tiny models gain nothing from more, and the machine is shared.
    return ModelsSettings(
        backend=backend,  # type: ignore[arg-type]
        ct2_compute_type=compute_type,  # type: ignore[arg-type]
        ct2_dir=str(root),
        ct2_inter_threads=1,
        ct2_intra_threads=1,
    )


@pytest.fixture(scope="module")
def converted(
    tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """float32 conversions of every family and int8 ones of the pipeline's models, kept out
    of the shared tiny-model directories (other tests must keep running transformers)."""
    root = tmp_path_factory.mktemp("ct2")
    for name in FAMILIES:
        path = tiny_models[name]
        convert(path, converted_dir(str(path), path, layout(root, "float32")), "float32")
    for name in PIPELINE_MODELS:
        path = tiny_models[name]
        convert(path, converted_dir(str(path), path, layout(root, "int8")), "int8")
    return {"root": root}


def with_models(settings: Settings, **values: object) -> Settings:
    return settings.model_copy(update={"models": settings.models.model_copy(update=values)})


def hf_greedy_ids(
    runner: Seq2SeqRunner, texts: list[str], source: str | None, forced: int | None
) -> list[list[int]]:
    """transformers' greedy ids as the product asks for them, less decoder start, EOS, pad."""
    import torch

    loaded = runner.loaded
    tokenizer = loaded.tokenizer
    if source is not None:
        tokenizer.src_lang = source
    encoded = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        output = loaded.model.generate(**encoded, **runner.generation_kwargs(None, forced))
    ends = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    rows = []
    for row in output.tolist():
        row = row[1:]
        while row and row[-1] in ends:
            row.pop()
        rows.append(row)
    return rows


@pytest.mark.parametrize("family", FAMILIES)
def test_float32_conversion_gives_transformers_greedy_tokens(
    family: str, tiny_models: dict[str, Path], converted: dict[str, Path]
) -> None:
    path = tiny_models[family]
    hf = load_model(str(path), path, "cpu")
    ct2 = ModelCache(layout(converted["root"], "float32", "ctranslate2")).get(str(path))
    assert isinstance(ct2.model, CT2Model) and ct2.backend == "ctranslate2-float32"
    source = forced = None
    if family in ("m2m100", "nllb"):
        # The target language is CTranslate2's target prefix: it must come out first.
        source, forced = language_codes(hf.tokenizer, "en", "ru", family)
    for generation in (
        GenerationSettings(num_beams=1, max_new_tokens=12, no_repeat_ngram_size=0),
        GenerationSettings(num_beams=1, max_new_tokens=10, no_repeat_ngram_size=3),
        GenerationSettings(num_beams=1, max_new_tokens=9, min_new_tokens=9),
    ):
        reference = Seq2SeqRunner(hf, generation, batch_size=3)
        runner = make_runner(ct2, generation, batch_size=3)
        assert isinstance(runner, CT2Runner)
        expected = hf_greedy_ids(reference, INPUTS, source, forced)
        got = runner.generate_ids(INPUTS, source_code=source, forced_bos_token_id=forced)
        assert got == expected, f"{family} {generation}"
        if forced is not None:
            assert all(row[0] == forced for row in got)
        texts = runner.generate(INPUTS, source_code=source, forced_bos_token_id=forced)
        assert texts == reference.generate(INPUTS, source_code=source, forced_bos_token_id=forced)
    assert runner.generate(["", "  "]) == ["", ""]


def test_converting_a_broken_directory_fails_clearly(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = Path(shutil.copytree(tiny_models["marian-en-hi"], tmp_path / "broken-opus"))
    (broken / "model.safetensors").write_bytes(b"\0" * 64)
    with pytest.raises(ConversionError) as caught:
        convert(broken, tmp_path / "out" / "ct2-int8")
    message = str(caught.value)
    assert str(broken) in message and "\n" not in message
    assert not (tmp_path / "out" / "ct2-int8").exists()  # nothing half-written left behind
    with pytest.raises(ConversionError, match=r"no config\.json"):
        convert(tmp_path, tmp_path / "elsewhere")

    code = main(["models", "convert", str(broken), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[0].startswith(f"briefing-digest: cannot convert {broken}: ")
    assert err[-1] == f"briefing-digest: 1 conversion(s) failed: {broken}"


def test_convert_command_writes_the_layout_the_pipeline_reads(
    tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tiny_models["marian-en-ru"]
    out = tmp_path / "converted"
    args = ["models", "convert", str(path), "--out", str(out), "--quantization", "int8"]
    assert main(args) == 0
    target = out / path.name / "ct2-int8"
    assert (target / "model.bin").is_file()
    assert f'ct2_dir = "{out}"' in capsys.readouterr().out
    cache = ModelCache(layout(out, "int8"))
    assert cache.converted(str(path)) == target and cache.backend(str(path)) == "ctranslate2-int8"
    assert main(args) == 0
    assert "already converted" in capsys.readouterr().out
    before = (target / "model.bin").stat().st_mtime_ns
    assert main([*args, "--force"]) == 0
    assert (target / "model.bin").stat().st_mtime_ns != before


def test_pipeline_runs_the_converted_models_and_says_so(
    tiny_models: dict[str, Path], converted: dict[str, Path]
) -> None:
    bart = str(tiny_models["bart"])
    models = {"ct2_dir": str(converted["root"]), "ct2_inter_threads": 1, "ct2_intra_threads": 1}
    settings = with_models(
        tiny_settings(
            tiny_models,
            summariser="bart",
            direction_models=directions(tiny_models, ("en-hi", "en-ru")),
        ),
        **models,
    )
    pipeline = Pipeline(settings)
    digests = pipeline.run(sample("en_briefing.txt"), ["en", "hi", "ru"], "neural")
    assert digests["en"].route == (f"summarise:en:{bart}:ctranslate2-int8",)
    assert "translate:en->hi:opus-mt:ctranslate2-int8" in digests["hi"].route
    assert "translate:en->ru:opus-mt:ctranslate2-int8" in digests["ru"].route
    assert all(digest.topics for digest in digests.values())
    loaded = pipeline.registry._model_cache().loaded()
    assert loaded and all(isinstance(m.model, CT2Model) for m in loaded)

    # The same models with the transformers backend: the routes say nothing more.
    plain = with_models(
        tiny_settings(
            tiny_models, summariser="bart", direction_models=directions(tiny_models, ("en-hi",))
        ),
        **models,
        backend="transformers",
    )
    digests = Pipeline(plain).run(sample("en_briefing.txt"), ["hi"], "neural")
    assert digests["hi"].route[0] == f"summarise:en:{bart}"
    assert "translate:en->hi:opus-mt" in digests["hi"].route


def test_required_ctranslate2_without_a_conversion_names_the_convert_command(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    nllb = str(tiny_models["nllb"])
    cache = ModelCache(layout(tmp_path, "int8", "ctranslate2"))
    with pytest.raises(
        ModelUnavailableError, match=re.escape(f"briefing-digest models convert {nllb}")
    ):
        cache.get(nllb)
    assert ModelCache(layout(tmp_path, "int8", "auto")).backend(nllb) == "transformers"
    settings = with_models(
        tiny_settings(tiny_models, summariser="mt5"), backend="ctranslate2", ct2_dir=str(tmp_path)
    )
    digest = Pipeline(settings).run(sample("en_briefing.txt"), ["en"], "neural")["en"]
    assert digest.engine == "extractive"
    assert any("models convert" in notice for notice in digest.notices)
    # Translation models without a conversion are unavailable too, and say how to fix it.
    translator = build_translator(
        settings.translation, settings.models, ModelCache(settings.models)
    )
    assert not translator.supports("en", "hi")
    assert "briefing-digest models convert" in translator.missing_message("en", "hi")


def test_thread_counts_stay_within_the_cores() -> None:
    assert thread_counts(ModelsSettings(), cores=2) == (2, 1)
    assert thread_counts(ModelsSettings(), cores=1) == (1, 1)
    assert thread_counts(ModelsSettings(ct2_inter_threads=1), cores=2) == (1, 2)
    assert thread_counts(ModelsSettings(ct2_inter_threads=2, ct2_intra_threads=2), cores=2) == (
        2,
        1,
    )
    assert thread_counts(ModelsSettings(ct2_inter_threads=8), cores=4) == (4, 1)
    assert thread_counts(ModelsSettings(ct2_inter_threads=1, ct2_intra_threads=3), cores=4) == (
        1,
        3,
    )


def test_parallel_batches_hold_up_to_the_configured_batch() -> None:
    # Without a count of inputs: the configured batch, whatever the threads.
    assert parallel_batch_size(16, 2) == 16
    assert parallel_batch_size(4, 2) == 4
    assert parallel_batch_size(1, 4) == 1
    # Evened out over the inputs in whole rounds of parallel batches: no thread idles
    # through the last round.
    assert parallel_batch_size(16, 2, inputs=9) == 5
    assert parallel_batch_size(16, 2, inputs=24) == 12
    assert parallel_batch_size(16, 2, inputs=32) == 16
    assert parallel_batch_size(16, 2, inputs=40) == 10
    assert parallel_batch_size(16, 2, inputs=1) == 1
    assert parallel_batch_size(4, 2, inputs=6) == 3
    assert parallel_batch_size(4, 2, inputs=4) == 2
    assert parallel_batch_size(16, 1, inputs=40) == 14


def test_converted_models_live_beside_the_model_or_under_ct2_dir(tmp_path: Path) -> None:
    model = tmp_path / "hub" / "snapshot"
    assert converted_dir("Helsinki-NLP/opus-mt-en-hi", model, ModelsSettings()) == (
        model / "ct2-int8"
    )
    settings = ModelsSettings(ct2_dir=str(tmp_path / "ct2"), ct2_compute_type="float32")
    assert converted_dir("Helsinki-NLP/opus-mt-en-hi", model, settings) == (
        tmp_path / "ct2" / "Helsinki-NLP--opus-mt-en-hi" / "ct2-float32"
    )
    assert converted_dir(str(model), model, settings, "int8") == (
        tmp_path / "ct2" / "snapshot" / "ct2-int8"
    )
