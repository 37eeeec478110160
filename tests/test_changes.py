"""What's new since the previous briefing: the comparison and how each format shows it."""

import json
from dataclasses import replace
from datetime import date

import jsonschema

from digest.changes import BriefingRecord, compare, mark_changes, record_of
from digest.model import Bullet, Digest, Topic
from digest.pipeline import Pipeline
from digest.render import render, render_languages, split_telegram_html
from settings import PROJECT_ROOT
from tests.conftest import sample

SCHEMA = json.loads((PROJECT_ROOT / "docs" / "digest.schema.json").read_text(encoding="utf-8"))
ENVELOPE = json.loads((PROJECT_ROOT / "docs" / "digests.schema.json").read_text(encoding="utf-8"))


def _digest(lang: str, *topics: tuple[str, str]) -> Digest:
    return Digest(
        source_name="https://example.org/b2",
        source_language="en",
        language=lang,
        headline="Weekly briefing",
        topics=tuple(Topic(i, t, (Bullet("A statement.", (0,)),)) for i, t in topics),
        entities=(),
        engine="extractive",
        sentences={0: "A statement."},
    )


PREVIOUS = BriefingRecord(
    date="2026-11-28",
    source="https://example.org/b1",
    topics={
        "en": (
            ("trade", "Trade"),
            ("energy", "Energy"),
            ("emergent-1", "Also discussed: visas"),
            ("other", "Other remarks"),
        ),
        "ru": (
            ("trade", "Торговля"),
            ("energy", "Энергетика"),
            ("emergent-1", "Также обсуждалось: визы"),
            ("other", "Прочие высказывания"),
        ),
    },
)


def test_new_and_gone_topics_are_found_by_id_and_emergent_ones_by_title() -> None:
    now = _digest(
        "en",
        ("trade", "Trade"),
        ("defence", "Defence"),
        ("emergent-2", "Also discussed: visas"),  # the same emergent topic, another position
        ("emergent-1", "Also discussed: fisheries"),
        ("other", "Other remarks"),
    )
    changes = compare(now, PREVIOUS)
    assert changes.since == "2026-11-28"
    assert changes.new_topics == ("defence", "emergent-1")
    assert [(t.id, t.title) for t in changes.gone_topics] == [("energy", "Energy")]


def test_gone_topics_are_named_in_the_digest_language() -> None:
    changes = compare(_digest("ru", ("trade", "Торговля")), PREVIOUS)
    assert [t.title for t in changes.gone_topics] == ["Энергетика", "Также обсуждалось: визы"]


def test_record_round_trips_through_json() -> None:
    record = record_of({"en": _digest("en", ("trade", "Trade"))}, date(2026, 11, 30))
    assert BriefingRecord.from_json(record.to_json()) == record
    assert record.topics == {"en": (("trade", "Trade"),)}


def test_without_a_previous_briefing_nothing_is_marked(pipeline: Pipeline) -> None:
    digests = {"en": _digest("en", ("trade", "Trade"))}
    assert mark_changes(digests, None)["en"].changes is None
    data = json.loads(render(digests["en"], "json", pipeline.resources))
    assert "changes" not in data
    jsonschema.validate(data, SCHEMA)


def test_each_format_marks_new_topics_and_lists_gone_ones(pipeline: Pipeline) -> None:
    res = pipeline.resources
    real = pipeline.run(sample("en_briefing.txt"), ["en", "ru", "hi"])
    first = real["en"].topics[0]
    previous = BriefingRecord(
        "2026-11-28",
        "https://example.org/b1",
        {"en": (("sanctions-gone", "Whaling"), (first.id, first.title))},
    )
    marked = mark_changes(real, previous)
    en = marked["en"]
    assert en.changes is not None and first.id not in en.changes.new_topics
    assert len(en.changes.new_topics) == len(en.topics) - 1 - any(
        t.id == "other" for t in en.topics
    )
    md = render(en, "md", res)
    assert md.count("New since 28 Nov") == len(en.changes.new_topics)
    assert "## Raised on 28 Nov, not this time\n\n- Whaling" in md
    txt = render(en, "txt", res)
    assert "[New since 28 Nov]" in txt and "Raised on 28 Nov, not this time\n  - Whaling" in txt
    html = "\n".join(split_telegram_html(en, res))
    assert "<i>🆕 New since 28 Nov</i>" in html and "• Whaling" in html
    assert "Новое с 28 ноября" in render(marked["ru"], "md", res)
    assert "28 नवंबर के बाद नया" in render(marked["hi"], "md", res)
    data = json.loads(render(en, "json", res))
    jsonschema.validate(data, SCHEMA)
    assert data["schema_version"] == "1.2"
    assert data["changes"]["since"] == "2026-11-28"
    assert data["changes"]["gone_topics"] == [{"id": "sanctions-gone", "title": "Whaling"}]
    envelope = json.loads(render_languages(list(marked.values()), "json", res))
    assert envelope["schema_version"] == "1.1"
    resolver_schema = {**ENVELOPE, "properties": {**ENVELOPE["properties"]}}
    resolver_schema["properties"]["digests"] = {"type": "array", "items": SCHEMA}
    jsonschema.validate(envelope, resolver_schema)


def test_an_unparseable_date_is_shown_as_given(pipeline: Pipeline) -> None:
    digest = replace(_digest("en", ("trade", "Trade")))
    marked = mark_changes({"en": digest}, replace(PREVIOUS, date="last week"))["en"]
    assert "New since last week" not in render(marked, "md", pipeline.resources)  # trade is old
    marked = mark_changes(
        {"en": _digest("en", ("defence", "Defence"))}, replace(PREVIOUS, date="last week")
    )["en"]
    assert "New since last week" in render(marked, "md", pipeline.resources)
