import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from settings import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "samples"


def test_digest_prints_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["digest", str(SAMPLES / "en_briefing.txt")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# ") and "## " in out


def test_digest_json_in_two_languages(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["digest", str(SAMPLES / "ru_briefing.txt"), "--format", "json", "--lang", "ru,en"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert [d["language"] for d in data] == ["ru", "en"]
    assert all(d["source_language"] == "ru" for d in data)


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


def test_batch_writes_one_output_per_input_language_and_format(
    corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code = main(["batch", str(corpus), "--out", str(out), "--lang", "en,ru", "--format", "md,json"])
    assert code == 0
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == sorted(
        f"{stem}.{lang}.{ext}"
        for stem in ("en_briefing", "ru_briefing")
        for lang in ("en", "ru")
        for ext in ("md", "json")
    )


def test_batch_skips_unchanged_inputs_unless_forced(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["batch", str(corpus), "--out", str(out)]) == 0
    capsys.readouterr()
    target = out / "en_briefing.en.md"
    first_mtime = target.stat().st_mtime_ns
    assert main(["batch", str(corpus), "--out", str(out)]) == 0
    assert "2 unchanged (skipped)" in capsys.readouterr().err
    assert target.stat().st_mtime_ns == first_mtime
    # Changed content is digested again; settings changes too.
    with (corpus / "en_briefing.txt").open("a", encoding="utf-8") as fh:
        fh.write("\n\nThe ministers also agreed to meet again next year to review trade.\n")
    assert main(["batch", str(corpus), "--out", str(out)]) == 0
    assert "1 digested, 1 unchanged" in capsys.readouterr().err
    assert main(["batch", str(corpus), "--out", str(out), "--force"]) == 0
    assert "2 digested, 0 unchanged" in capsys.readouterr().err


def test_batch_failure_does_not_stop_other_files(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 10)
    out = tmp_path / "out"
    code = main(["batch", str(corpus), "--out", str(out), "--jobs", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert "2 digested" in err and "2 failed" in err
    assert "empty.txt" in err and "binary.txt" in err
    assert (out / "en_briefing.en.md").exists() and (out / "ru_briefing.en.md").exists()


def test_batch_glob_without_matches_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["batch", str(tmp_path / "*.nothing"), "--out", str(tmp_path / "o")]) == 2
    assert "no files match" in capsys.readouterr().err
