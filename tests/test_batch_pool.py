"""`batch` through the worker pool: one run per output folder, atomic outputs, a cache that
survives bad entries, one-line storage errors and the same limits as the bot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from digest.batch import CACHE_FILE, BatchCache, BatchOptions, FileStatus, OutputLock
from settings import PROJECT_ROOT, Settings
from settings.schema import WorkersSettings
from tests.workers_support import behaving_pipeline
from workers import WorkerPool
from workers.batch import run_batch

SAMPLES = PROJECT_ROOT / "samples"


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("en_briefing.txt", "ru_briefing.txt", "hi_briefing.txt"):
        shutil.copy(SAMPLES / name, folder / name)
    return folder


@pytest.fixture()
def light_corpus(tmp_path: Path) -> Path:
    """English and Hindi only: a Russian input loads natasha (~2 s) in each fresh worker, and
    these tests are about the output folder, not the language (the pool test digests all
    three)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("en_briefing.txt", "hi_briefing.txt"):
        shutil.copy(SAMPLES / name, folder / name)
    return folder


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_second_run_into_a_held_folder_is_refused_with_one_line(
    light_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = light_corpus
    out = tmp_path / "out"
    out.mkdir()
    with OutputLock(out):
        assert main(["batch", str(corpus), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"briefing-digest: error: {out}: another batch run is writing to this folder "
        f"(pid {os.getpid()}); wait for it to finish or choose another --out"
    )
    assert not (out / "en_briefing.en.md").exists()
    # Released: the next run goes ahead.
    assert main(["batch", str(corpus), "--out", str(out)]) == 0
    assert (out / "en_briefing.en.md").exists()


def test_two_concurrent_runs_into_one_folder_do_not_race(
    light_corpus: Path, tmp_path: Path
) -> None:
    corpus = light_corpus
    for i in range(6):
        shutil.copy(SAMPLES / "en_briefing.txt", corpus / f"copy{i}.txt")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cli.main", "batch", str(corpus), "--out", str(out)]
    runs = [
        subprocess.Popen(command, cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(run.wait(120), run.stderr.read()) for run in runs]  # type: ignore[union-attr]
    for code, err in results:
        assert "Traceback" not in err
        if code == 2:
            assert "another batch run is writing to this folder" in err
            assert len(err.strip().splitlines()) == 1
        else:
            assert code == 0, err
    assert any(code == 0 for code, _ in results)
    cache = json.loads((out / CACHE_FILE).read_text(encoding="utf-8"))
    assert len(cache) == 8
    assert all((out / f"{p.stem}.en.md").read_text().startswith("# ") for p in corpus.iterdir())
    assert not leftovers(out)


BAD_CACHES = [
    "garbage",
    json.dumps(["a", "list"]),
    json.dumps({"PLACEHOLDER": "a string", "other": [1, 2], "third": {"key": 7}}),
]


@pytest.mark.parametrize("cache_text", BAD_CACHES)
def test_cache_entries_of_the_wrong_type_are_ignored(cache_text: str, tmp_path: Path) -> None:
    source = tmp_path / "en_briefing.txt"
    source.write_text("text", encoding="utf-8")
    entry = str(source.resolve())
    (tmp_path / CACHE_FILE).write_text(cache_text.replace("PLACEHOLDER", entry), encoding="utf-8")
    cache = BatchCache(tmp_path).load()
    assert cache.key(source) is None
    # What this code writes replaces them whole.
    cache.record(source, "k1", [tmp_path / "en_briefing.en.md"])
    cache.save()
    assert BatchCache(tmp_path).load().key(source) == "k1"
    assert set(json.loads((tmp_path / CACHE_FILE).read_text(encoding="utf-8"))) == {entry}


def test_a_batch_over_a_cache_of_the_wrong_type_digests_and_rewrites_it(
    light_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = light_corpus
    out = tmp_path / "out"
    out.mkdir()
    entry = str((corpus / "en_briefing.txt").resolve())
    (out / CACHE_FILE).write_text(BAD_CACHES[-1].replace("PLACEHOLDER", entry), encoding="utf-8")
    assert main(["batch", str(corpus), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "2 digested" in err and "internal error" not in err
    # The cache was rewritten whole, and now skips both.
    assert main(["batch", str(corpus), "--out", str(out)]) == 0
    assert "2 unchanged (skipped)" in capsys.readouterr().err


def _read_only_batch(corpus: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """The batch CLI with ``out`` on a read-only mount (a private mount namespace)."""
    if shutil.which("unshare") and shutil.which("mount"):
        script = (
            f'mount --bind "{out}" "{out}" && mount -o remount,bind,ro "{out}" && '
            f'exec "{sys.executable}" -m cli.main batch "{corpus}" --out "{out}"'
        )
        probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
        if probe.returncode == 0:
            return subprocess.run(
                ["unshare", "-rm", "sh", "-c", script],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
    if os.geteuid() == 0:
        pytest.skip("needs unshare for a read-only mount (root ignores permissions)")
    out.chmod(0o555)
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "batch", str(corpus), "--out", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_read_only_output_folder_is_one_line(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    try:
        result = _read_only_batch(corpus, out)
    finally:
        out.chmod(0o755)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"briefing-digest: error: {out}: cannot write to the output folder ("
    )


def test_batch_runs_in_the_pool_with_its_limits(
    corpus: Path, tmp_path: Path, settings: Settings
) -> None:
    slow = corpus / "slow.txt"
    slow.write_text("SLEEP 60")
    out = tmp_path / "out"
    # Generous enough that a Russian digest (natasha loads on first use) on a loaded machine
    # stays under it; the sleeping job is still stopped by it.
    limited = settings.model_copy(
        update={"workers": WorkersSettings(job_timeout_s=15.0, warm_up=True)}
    )
    paths = sorted(corpus.iterdir())
    seen = []
    with WorkerPool(limited, factory=behaving_pipeline, count=2) as pool:
        report = run_batch(
            paths, limited, BatchOptions(out, ("en",), ("md", "json")), seen.append, pool=pool
        )
        assert pool.stats().time_limit == 1
    assert [r.path for r in report.results] == paths == [r.path for r in seen]
    by_name = {r.path.name: r for r in report.results}
    assert by_name["slow.txt"].status is FileStatus.FAILED
    assert by_name["slow.txt"].error == (
        f"{slow}: This briefing is too large or too complex to digest "
        "(limit: 15 s of processing time)"
    )
    for name in ("en_briefing", "ru_briefing", "hi_briefing"):
        assert by_name[f"{name}.txt"].status is FileStatus.DONE
        assert json.loads((out / f"{name}.en.json").read_text())["language"] == "en"
    assert not (out / "slow.en.md").exists()
    assert not leftovers(out)
