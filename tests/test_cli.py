import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from cli.main import main
from settings import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "samples"


def test_digest_prints_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", str(SAMPLES / "en_briefing.txt")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# ") and "## " in out


def envelope_validator() -> jsonschema.protocols.Validator:
    """docs/digests.schema.json with its reference to docs/digest.schema.json resolved."""
    docs = PROJECT_ROOT / "docs"
    digest = json.loads((docs / "digest.schema.json").read_text(encoding="utf-8"))
    envelope = json.loads((docs / "digests.schema.json").read_text(encoding="utf-8"))
    registry = Registry().with_resource(digest["$id"], Resource.from_contents(digest))
    jsonschema.Draft202012Validator.check_schema(envelope)
    return jsonschema.Draft202012Validator(envelope, registry=registry)


@pytest.mark.parametrize("languages", [["ru"], ["ru", "en"], ["en", "hi", "ru"]])
def test_digest_json_is_one_envelope_whatever_the_languages(
    capsys: pytest.CaptureFixture[str], languages: list[str]
) -> None:
    argv = ["digest", str(SAMPLES / "ru_briefing.txt"), "--format", "json"]
    assert main([*argv, "--lang", ",".join(languages)]) == 0
    data = json.loads(capsys.readouterr().out)
    envelope_validator().validate(data)
    assert data["source"] == "ru_briefing.txt" and data["source_language"] == "ru"
    assert [d["language"] for d in data["digests"]] == languages
    assert all(d["source_language"] == "ru" for d in data["digests"])


def test_envelope_schema_rejects_a_bare_list_and_a_bad_digest() -> None:
    validator = envelope_validator()
    assert not validator.is_valid([])
    bad = {"schema_version": "1.0", "source": "x", "source_language": "en", "digests": [{}]}
    assert not validator.is_valid(bad)
    assert not validator.is_valid({**bad, "digests": []})


def test_markdown_languages_are_separated_by_a_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", str(SAMPLES / "en_briefing.txt"), "--lang", "en,ru"]) == 0
    documents = capsys.readouterr().out.split("\n---\n\n")
    assert len(documents) == 2
    assert all(d.startswith("# ") for d in documents)
    assert "_Source: en_briefing.txt" in documents[0] and "_Источник:" in documents[1]


def test_version_is_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"briefing-digest {version('briefing-digest')}"


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_go_before_or_after_the_sub_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    override = tmp_path / "one-bullet.toml"
    override.write_text("[summary]\nmax_bullets = 1\n", encoding="utf-8")
    sample = str(SAMPLES / "en_briefing.txt")
    options = ["--config", str(override)]
    argv = [*options, "digest", sample] if where == "before" else ["digest", sample, *options]
    assert main(argv) == 0
    body = capsys.readouterr().out.split("## Key names")[0]
    topics = body.split("\n## ")[1:]
    assert topics and all(t.count("\n- ") == 1 for t in topics)


def test_a_config_file_missing_after_the_sub_command_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["digest", str(SAMPLES / "en_briefing.txt"), "--config", "nowhere.toml"]) == 2
    assert "config file not found: nowhere.toml" in capsys.readouterr().err


def test_an_environment_variable_with_a_typo_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BRIEFING_DIGEST_SUMARY__MAX_BULLETS", "2")
    assert main(["digest", str(SAMPLES / "en_briefing.txt")]) == 2
    err = capsys.readouterr().err
    assert "sumary: unknown key" in err and "BRIEFING_DIGEST_SUMARY__MAX_BULLETS" in err


@pytest.mark.parametrize("engine", ["neural", "llm"])
def test_an_engine_without_its_extra_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    # None in sys.modules: Python treats the module as not installed.
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["digest", str(SAMPLES / "en_briefing.txt"), "--engine", engine]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"pip install 'briefing-digest[{engine}]'" in err and "torch" in err


def test_a_configured_engine_without_its_extra_falls_back_with_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setenv("BRIEFING_DIGEST_SUMMARY__ENGINE", "neural")
    assert main(["digest", str(SAMPLES / "en_briefing.txt"), "--lang", "ru"]) == 0
    out = capsys.readouterr().out
    assert "Движок: extractive" in out
    assert "Движок neural не запустился" in out and "pip install 'briefing-digest[neural]'" in out


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the project's own error types become one-line messages; a ValueError is a bug.
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("an internal bug")

    monkeypatch.setattr("digest.pipeline.Pipeline.run", broken)
    with pytest.raises(ValueError, match="an internal bug"):
        main(["digest", str(SAMPLES / "en_briefing.txt")])


def test_a_closed_pipe_ends_quietly() -> None:
    # The writer starts writing only once its reader has gone, as with `| head` on long output.
    code = (
        "import sys; from cli.main import main; sys.stdin.readline(); "
        "sys.exit(main(['models', 'list', '--json']))"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert writer.stdin is not None and writer.stdout is not None
    writer.stdout.close()
    _, stderr = writer.communicate(b"go\n", timeout=60)
    assert writer.returncode == 141, stderr
    assert b"Traceback" not in stderr and b"BrokenPipeError" not in stderr


def test_digest_reads_stdin() -> None:
    text = (SAMPLES / "hi_briefing.txt").read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "digest", "-", "--format", "txt", "--lang", "hi"],
        input=text,
        capture_output=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "<stdin>" in result.stdout.decode()


def test_missing_file_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", "missing.txt"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("briefing-digest: error: ") and "missing.txt" in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_output_language_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["digest", str(SAMPLES / "en_briefing.txt"), "--lang", "en,fr"])
    assert exit_info.value.code == 2
    assert "unsupported language: fr" in capsys.readouterr().err


def test_unsupported_language_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    german = tmp_path / "de.txt"
    german.write_text(
        "Die beiden Minister haben heute ausführlich über den Handel und die Energie gesprochen.",
        encoding="utf-8",
    )
    assert main(["digest", str(german)]) == 2
    assert "unsupported language: de" in capsys.readouterr().err


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(SAMPLES / "en_briefing.txt", folder / "en_briefing.txt")
    shutil.copy(SAMPLES / "ru_briefing.txt", folder / "sub" / "ru_briefing.txt")
    return folder


@pytest.fixture()
def light_corpus(tmp_path: Path) -> Path:
    """Two inputs, one in a subfolder, in languages the offline engine digests without loading
    natasha (~2 s in each fresh worker process): for the batch tests where the input's language
    does not matter (tests/test_batch_pool.py digests a Russian one in the pool)."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(SAMPLES / "en_briefing.txt", folder / "en_briefing.txt")
    shutil.copy(SAMPLES / "hi_briefing.txt", folder / "sub" / "hi_briefing.txt")
    return folder


def test_batch_writes_one_output_per_input_language_and_format(
    light_corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code = main(
        ["batch", str(light_corpus), "--out", str(out), "--lang", "en,ru", "--format", "md,json"]
    )
    assert code == 0
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == sorted(
        f"{stem}.{lang}.{ext}"
        for stem in ("en_briefing", "hi_briefing")
        for lang in ("en", "ru")
        for ext in ("md", "json")
    )


def test_batch_skips_unchanged_inputs_unless_forced(
    light_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["batch", str(light_corpus), "--out", str(out)]) == 0
    capsys.readouterr()
    target = out / "en_briefing.en.md"
    first_mtime = target.stat().st_mtime_ns
    assert main(["batch", str(light_corpus), "--out", str(out)]) == 0
    assert "2 unchanged (skipped)" in capsys.readouterr().err
    assert target.stat().st_mtime_ns == first_mtime
    # Changed content is digested again; settings changes too.
    with (light_corpus / "en_briefing.txt").open("a", encoding="utf-8") as fh:
        fh.write("\n\nThe ministers also agreed to meet again next year to review trade.\n")
    assert main(["batch", str(light_corpus), "--out", str(out)]) == 0
    assert "1 digested, 1 unchanged" in capsys.readouterr().err
    assert main(["batch", str(light_corpus), "--out", str(out), "--force"]) == 0
    assert "2 digested, 0 unchanged" in capsys.readouterr().err


def test_batch_failure_does_not_stop_other_files(
    light_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (light_corpus / "empty.txt").write_bytes(b"")
    (light_corpus / "binary.txt").write_bytes(bytes(range(256)) * 10)
    out = tmp_path / "out"
    code = main(["batch", str(light_corpus), "--out", str(out), "--jobs", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert "2 digested" in err and "2 failed" in err
    assert "empty.txt" in err and "binary.txt" in err
    assert (out / "en_briefing.en.md").exists() and (out / "hi_briefing.en.md").exists()


def test_batch_glob_without_matches_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["batch", str(tmp_path / "*.nothing"), "--out", str(tmp_path / "o")]) == 2
    assert "no files match" in capsys.readouterr().err


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
def test_batch_refuses_jobs_below_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", str(SAMPLES), "--out", str(tmp_path / "o"), "--jobs", jobs])
    assert exit_info.value.code == 2
    assert "--jobs" in capsys.readouterr().err


def test_batch_names_one_file_and_which_same_named_input_is_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.txt"
    shutil.copy(SAMPLES / "en_briefing.txt", one)
    assert main(["batch", str(one), "--out", str(tmp_path / "o1")]) == 0
    assert "1 file: 1 digested" in capsys.readouterr().err
    # Same name, different transcripts: the line for each must name the output made from it.
    sources = {"a": ("en_briefing.txt", "English"), "b": ("ru_briefing.txt", "Russian")}
    for folder, (sample_name, _) in sources.items():
        (tmp_path / folder).mkdir()
        shutil.copy(SAMPLES / sample_name, tmp_path / folder / "brief.txt")
    inputs = {folder: str(tmp_path / folder / "brief.txt") for folder in sources}
    out = tmp_path / "o2"
    assert main(["batch", *inputs.values(), "--out", str(out), "--lang", "en"]) == 0
    err = capsys.readouterr().err
    assert len(list(out.glob("brief-*.en.md"))) == 2
    for folder, path in inputs.items():
        line = next(line for line in err.splitlines() if path in line)
        stem = line.rsplit("-> ", 1)[1].removesuffix(".*")
        digest = (out / f"{stem}.en.md").read_text(encoding="utf-8")
        assert f"Source language: {sources[folder][1]}" in digest


def test_batch_digests_again_when_the_models_or_llm_settings_change(
    light_corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    args = ["batch", str(light_corpus), "--out", str(out), "--lang", "en"]
    assert main(args) == 0
    assert main(args) == 0
    assert "0 digested, 2 unchanged" in capsys.readouterr().err
    # Each change alone: the run before it cached the inputs under the settings of then.
    for variable, value in (
        ("BRIEFING_DIGEST_MODELS__BACKEND", "transformers"),
        ("BRIEFING_DIGEST_LLM__MODEL", "/x"),
    ):
        monkeypatch.setenv(variable, value)
        assert main(args) == 0
        assert "2 digested, 0 unchanged" in capsys.readouterr().err, variable
