"""Test-only engines for the worker pool: the real pipeline, except for command documents.

The pool takes a picklable factory; :func:`behaving_pipeline` is one. A document whose text
starts with a command word misbehaves on purpose (nothing of this is in product code):

* ``SLEEP <s> [marker=<path>]``: creates the marker file (if named), sleeps (breaks the time
  limit);
* ``HOG``: allocates 10 MB blocks until memory runs out (breaks the memory limit);
* ``BLOCK_ONCE <marker>``: the first run (marker absent) creates the marker, reports
  ``Progress("blocked", detail=<pid>)`` and sleeps, for the test to kill the worker; later runs
  digest normally;
* ``SEGV``: the worker kills itself with SIGSEGV, every time;
* ``TICK``: reports ``Progress("tick")`` every 20 ms until the job is cancelled;
* ``STEPS``: digests the sample, pausing 0.4 s after each stage (progress becomes visible);
* ``PID``: reports ``Progress("worker", detail="<pid>:<engine id>:<runs>")``, then digests.

Every command job first reports ``Progress("worker", detail=<pid>...)``.

Run as a script it is a batch parent for the parent-death test (see :func:`batch_parent`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from digest.model import Digest, Document
from digest.pipeline import Pipeline, Progress, ProgressCallback
from settings.schema import Settings

SAMPLE_TEXT = (Path(__file__).resolve().parent.parent / "samples" / "en_briefing.txt").read_text(
    encoding="utf-8"
)


COMMANDS = ("SLEEP", "HOG", "BLOCK_ONCE", "SEGV", "TICK", "PID", "STEPS")


class BehavingPipeline:
    def __init__(self, settings: Settings) -> None:
        self._inner = Pipeline(settings)
        self.resources = self._inner.resources
        self.runs = 0

    def run(
        self,
        doc: Document,
        languages: Sequence[str] | None = None,
        engine: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Digest]:
        report = progress or (lambda _: None)
        words = doc.text.split()
        command = words[0] if words and words[0] in COMMANDS else ""
        if command:
            self.runs += 1
            report(Progress("worker", detail=f"{os.getpid()}:{id(self)}:{self.runs}"))
        if command == "SLEEP":
            if len(words) > 2 and words[2].startswith("marker="):
                Path(words[2].removeprefix("marker=")).write_text(str(os.getpid()))
            time.sleep(float(words[1]))
        elif command == "HOG":
            hoard = []
            while True:
                hoard.append(bytearray(10 * 1024 * 1024))
        elif command == "BLOCK_ONCE":
            marker = Path(words[1])
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                report(Progress("blocked", detail=str(os.getpid())))
                time.sleep(60)
        elif command == "SEGV":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif command == "TICK":
            for i in range(3000):
                report(Progress("tick", i))
                time.sleep(0.02)
        if command == "STEPS":

            def slowly(step: Progress, report: ProgressCallback = report) -> None:
                report(step)
                time.sleep(0.4)

            report = slowly
        if command:
            doc = Document(doc.name, SAMPLE_TEXT, doc.format)
        return self._inner.run(doc, languages, engine, report)


def behaving_pipeline(settings: Settings) -> BehavingPipeline:
    return BehavingPipeline(settings)


def failing_factory(settings: Settings) -> BehavingPipeline:
    raise RuntimeError("the model directory is missing")


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie has exited


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def batch_parent(inputs: list[str], out_dir: str) -> None:
    """A batch run whose workers use :func:`behaving_pipeline`; prints its workers' pids."""
    from digest.batch import BatchOptions
    from settings import load_settings
    from workers import WorkerPool
    from workers.batch import run_batch

    settings = load_settings(environ={})
    options = BatchOptions(Path(out_dir), ("en",), ("md",), jobs=2)
    with WorkerPool(settings, factory=behaving_pipeline, count=2) as pool:
        if not pool.wait_ready(60):
            raise SystemExit("workers did not start")
        print("workers", *pool.pids(), flush=True)
        run_batch([Path(p) for p in inputs], settings, options, pool=pool)


if __name__ == "__main__":
    batch_parent(sys.argv[2:], sys.argv[1])
