"""Finding and loading models: hub id vs directory, missing models, the shared cache."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from models.base import ModelUnavailableError
from models.runtimes import hf_loading
from models.runtimes.hf_loading import (
    ModelCache,
    choose_device,
    generation_for,
    is_local_name,
    resolve_model,
)
from settings import SettingsError, load_settings
from settings.schema import GenerationSettings, ModelsSettings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("isolated_hf_cache")]

FAMILIES = {
    "marian-en-hi": ("marian", "MarianTokenizer", "MarianMTModel"),
    "m2m100": ("m2m_100", "M2M100Tokenizer", "M2M100ForConditionalGeneration"),
    "nllb": ("nllb", "NllbTokenizer", "M2M100ForConditionalGeneration"),
    "mt5": ("mt5", "T5Tokenizer", "MT5ForConditionalGeneration"),
    "bart": ("bart", None, "BartForConditionalGeneration"),
}


def test_names_are_hub_ids_or_directories(tmp_path: Path) -> None:
    assert not is_local_name("Helsinki-NLP/opus-mt-en-hi")
    assert not is_local_name("t5-small")
    assert is_local_name("./models/opus")
    assert is_local_name("/srv/models/opus")
    assert is_local_name("~/models/opus")
    assert is_local_name(str(tmp_path))


def test_missing_hub_model_names_the_download_command(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as caught:
        resolve_model("Helsinki-NLP/opus-mt-en-hi", cache_dir=str(tmp_path))
    message = str(caught.value)
    assert "Helsinki-NLP/opus-mt-en-hi" in message
    assert "briefing-digest models download Helsinki-NLP/opus-mt-en-hi" in message


def test_offline_mode_is_mentioned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE"):
        resolve_model("facebook/m2m100_418M", cache_dir=str(tmp_path))


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        resolve_model(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailableError, match=r"no config\.json"):
        resolve_model(str(tmp_path / "empty"))


def test_models_downloaded_with_dir_are_found_in_cache_dir(
    tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    shutil.copytree(tiny_models["bart"], tmp_path / "acme--tiny-bart")
    assert resolve_model("acme/tiny-bart", cache_dir=str(tmp_path)) == tmp_path / "acme--tiny-bart"


def test_models_in_a_hugging_face_cache_are_found(tmp_path: Path) -> None:
    repo = tmp_path / "models--acme--tiny"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}", encoding="utf-8")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40, encoding="utf-8")
    assert resolve_model("acme/tiny", cache_dir=str(tmp_path)) == snapshot


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_architecture_loads_through_the_product_path(
    name: str, tiny_models: dict[str, Path]
) -> None:
    cache = ModelCache(ModelsSettings())
    loaded = cache.get(str(tiny_models[name]))
    family, tokenizer_class, model_class = FAMILIES[name]
    assert loaded.family == family
    assert type(loaded.model).__name__ == model_class
    if tokenizer_class:
        assert type(loaded.tokenizer).__name__ == tokenizer_class
    assert loaded.max_input_tokens == 64
    assert not loaded.model.training
    assert loaded.size_bytes > 0
    assert cache.get(str(tiny_models[name])) is loaded


def test_concurrent_requests_load_a_model_once(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = hf_loading.load_model

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hf_loading, "load_model", counting)
    cache = ModelCache(ModelsSettings())
    results = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        results.append(cache.get(str(tiny_models["mt5"])))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len({id(r) for r in results}) == 1


def test_least_recently_used_model_is_evicted_over_budget(tiny_models: dict[str, Path]) -> None:
    cache = ModelCache(ModelsSettings())
    first = cache.get(str(tiny_models["mt5"]))
    cache.budget_bytes = int(first.size_bytes * 2.5)
    cache.get(str(tiny_models["bart"]))
    cache.get(str(tiny_models["mt5"]))  # mt5 is now the most recently used
    cache.get(str(tiny_models["nllb"]))
    names = {Path(m.name).name for m in cache.loaded()}
    assert names == {"mt5", "nllb"}
    assert cache.used_bytes() <= cache.budget_bytes


def test_broken_directory_fails_clearly(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    broken = Path(shutil.copytree(tiny_models["bart"], tmp_path / "broken"))
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelUnavailableError, match=r"broken could not be loaded"):
        ModelCache(ModelsSettings()).get(str(broken))
    (broken / "config.json").write_text(json.dumps({"model_type": "gpt2"}), encoding="utf-8")
    with pytest.raises(ModelUnavailableError, match="could not be loaded"):
        ModelCache(ModelsSettings()).get(str(broken))


def test_device_and_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch  # here, not at module level: collecting the suite must not load torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device("cpu") == "cpu"
    assert choose_device("auto") == "cpu"
    assert choose_device("cuda") == "cpu"  # with a warning, rather than failing
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device("auto") == "cuda"
    assert choose_device("cpu") == "cpu"
    before = torch.get_num_threads()
    try:
        cache = ModelCache(ModelsSettings(threads=1))
        assert cache.device == "cpu"  # decided (and threads set) on first use
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_per_model_generation_overrides() -> None:
    base = GenerationSettings(num_beams=2, max_new_tokens=64)
    overrides = {"acme/m": {"num_beams": 4}}
    assert generation_for("acme/m", base, overrides).num_beams == 4
    assert generation_for("acme/m", base, overrides).max_new_tokens == 64
    assert generation_for("other", base, overrides) is base


def test_generation_override_keys_are_checked(tmp_path: Path) -> None:
    override = tmp_path / "site.toml"
    override.write_text('[models.generation."acme/m"]\nnum_beams = 4\n', encoding="utf-8")
    assert load_settings(override, environ={}).models.generation == {"acme/m": {"num_beams": 4}}
    override.write_text('[models.generation."acme/m"]\nbeams = 4\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown generation key beams"):
        load_settings(override, environ={})


@pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")
def test_marian_fixture_has_the_opus_mt_layout_ctranslate2_converts(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("ctranslate2")
    from ctranslate2.converters import TransformersConverter

    source = tiny_models["marian-en-hi"]
    vocab = json.loads((source / "vocab.json").read_text(encoding="utf-8"))
    assert vocab["</s>"] == 0 and vocab["<unk>"] == 1
    assert vocab["<pad>"] == len(vocab) - 1  # opus-mt: <pad> last
    out = TransformersConverter(str(source)).convert(str(tmp_path / "ct2"))
    shared = json.loads((Path(out) / "shared_vocabulary.json").read_text(encoding="utf-8"))
    assert len(shared) == len(vocab) - 1  # the converter drops the trailing <pad>
