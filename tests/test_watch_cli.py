"""``briefing-digest watch`` end to end: a real feed server, files out, state kept in DIR."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.main import main
from tests.feed_site import EVAL, SAMPLES, FeedSite, Page, rss, transcript

pytestmark = pytest.mark.timeout(120)

# Real briefings, oldest first: an MEA-style briefing, a Russian MFA one in English, the sample.
TRANSCRIPTS = [
    EVAL / "composed-hi-2.en.txt",
    EVAL / "composed-ru-1.en.txt",
    SAMPLES / "en_briefing.txt",
    EVAL / "composed-hi-4.en.txt",
]
DATES = [
    "Mon, 24 Nov 2026 10:00:00 GMT",
    "Thu, 27 Nov 2026 10:00:00 GMT",
    "Fri, 28 Nov 2026 10:00:00 GMT",
    "Sun, 30 Nov 2026 10:00:00 GMT",
]


@pytest.fixture()
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedSite]:
    # Tests fetch from 127.0.0.1; the default refuses loopback addresses.
    monkeypatch.setenv("BRIEFING_DIGEST_FETCH__ALLOW_PRIVATE_NETWORKS", "true")
    with FeedSite() as running:
        for i, path in enumerate(TRANSCRIPTS):
            running.set(f"/b{i}.txt", transcript(path))
        yield running


def _publish(site: FeedSite, count: int, extra: list[tuple[str, str, str, str]] = ()) -> None:
    items = [(f"guid-{i}", site.url(f"/b{i}.txt"), f"Briefing {i}", DATES[i]) for i in range(count)]
    site.set("/feed.xml", rss(list(reversed([*items, *extra]))))


def _outputs(out: Path, suffix: str) -> list[Path]:
    return sorted(out.glob(f"*{suffix}"))


def test_watch_digests_the_newest_then_new_items_with_what_changed(
    site: FeedSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["watch", site.url("/feed.xml"), "--out", str(out), "--once", "--format", "md,json"]
    _publish(site, 3)
    assert main([*argv, "--lang", "en"]) == 0
    captured = capsys.readouterr()
    assert "warning: [fetch] allow_private_networks is on" in captured.err
    [first] = _outputs(out, ".en.json")
    assert "b2-txt" in first.name  # the newest item only: no backlog
    data = json.loads(first.read_text(encoding="utf-8"))
    assert data["source"] == site.url("/b2.txt") and "changes" not in data
    assert site.hits["/b0.txt"] == site.hits["/b1.txt"] == 0

    # Nothing new: the feed answers 304 and nothing is written.
    assert main([*argv, "--lang", "en"]) == 0
    assert site.not_modified["/feed.xml"] == 1 and len(_outputs(out, ".en.json")) == 1

    _publish(site, 4)
    assert main([*argv, "--lang", "en,ru"]) == 0
    [second] = [p for p in _outputs(out, ".en.json") if p != first]
    data = json.loads(second.read_text(encoding="utf-8"))
    assert data["schema_version"] == "1.2"
    changes = data["changes"]
    assert changes["since"] == "2026-11-28" and changes["previous_source"] == site.url("/b2.txt")
    before = {t["id"] for t in json.loads(first.read_text(encoding="utf-8"))["topics"]}
    now = {t["id"] for t in data["topics"]}
    assert set(changes["new_topics"]) == {t for t in now - before if t != "other"}
    assert {t["id"] for t in changes["gone_topics"]} == {t for t in before - now if t != "other"}
    assert changes["new_topics"] or changes["gone_topics"]  # two different briefings
    md = second.with_name(second.name.replace(".json", ".md")).read_text(encoding="utf-8")
    assert md.count("New since 28 Nov") == len(changes["new_topics"])
    ru = second.with_name(second.name.replace(".en.json", ".ru.md")).read_text(encoding="utf-8")
    if changes["new_topics"]:
        assert "Новое с 28 ноября" in ru
    assert site.hits["/b3.txt"] == 1


def test_a_republished_transcript_is_not_digested_twice(site: FeedSite, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["watch", site.url("/feed.xml"), "--out", str(out), "--once", "--lang", "en"]
    _publish(site, 3)
    assert main(argv) == 0
    # The same text under a new GUID and link.
    site.set("/copy.txt", transcript(TRANSCRIPTS[2]))
    _publish(site, 3, [("guid-copy", site.url("/copy.txt"), "Briefing (again)", DATES[3])])
    assert main(argv) == 0
    assert site.hits["/copy.txt"] == 1
    assert len(_outputs(out, ".en.md")) == 1


def test_once_exits_non_zero_with_one_line_per_failed_source(
    site: FeedSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site.set("/broken.xml", Page(b"oops", status=500))
    _publish(site, 2)
    out = tmp_path / "out"
    code = main(
        [
            "watch",
            site.url("/feed.xml"),
            site.url("/broken.xml"),
            site.url("/missing.xml"),
            "--out",
            str(out),
            "--once",
            "--backlog",
            "2",
            "--lang",
            "en",
        ]
    )
    assert code == 1
    failed = [line for line in capsys.readouterr().err.splitlines() if "failed:" in line]
    assert sorted(failed) == [
        f"briefing-digest: failed: {site.url('/broken.xml')}: the server answered HTTP 500",
        f"briefing-digest: failed: {site.url('/missing.xml')}: the server answered HTTP 404",
    ]
    # The working source was digested all the same: --backlog 2 gives its two newest items.
    assert len(_outputs(out, ".en.md")) == 2


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "ftp://example.org/feed",
            "ftp://example.org/feed: only http and https links are followed",
        ),
        ("https://example.org/list " + "x" * 201, "the link pattern is over 200 characters"),
    ],
)
def test_a_bad_source_is_named_in_one_line(
    source: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["watch", source, "--out", str(tmp_path), "--once"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_every_outside_the_limits_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["watch", "https://example.org/f", "--out", str(tmp_path), "--every", "1"]
    assert main(argv) == 2
    assert "--every: sources are checked at most every 5 min" in capsys.readouterr().err
