import json
from html.parser import HTMLParser

import jsonschema
import pytest

from digest.model import Bullet, Digest, Entity, Topic
from digest.pipeline import Pipeline
from digest.render import render, split_telegram_html
from settings import PROJECT_ROOT
from tests.conftest import sample

SCHEMA = json.loads((PROJECT_ROOT / "docs" / "digest.schema.json").read_text(encoding="utf-8"))
TELEGRAM_TAGS = {"b", "i", "u", "s", "code", "pre", "a", "blockquote"}


class _TagChecker(HTMLParser):
    """Telegram accepts only a few tags and needs them balanced."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        assert tag in TELEGRAM_TAGS, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_telegram_html(part: str) -> str:
    checker = _TagChecker()
    checker.feed(part)
    checker.close()
    assert not checker.stack, checker.stack
    return "".join(checker.text)


@pytest.fixture(scope="module")
def sample_digest(pipeline: Pipeline) -> Digest:
    return pipeline.run(sample("en_briefing.txt"), ["en"])["en"]


def test_json_follows_the_documented_schema(pipeline: Pipeline, sample_digest: Digest) -> None:
    data = json.loads(render(sample_digest, "json", pipeline.resources))
    jsonschema.validate(data, SCHEMA)
    assert data["schema_version"] == "1.2"
    assert data["source_language"] == "en" and data["language"] == "en"
    for topic in data["topics"]:
        for bullet in topic["bullets"]:
            for evidence in bullet["evidence"]:
                assert evidence["text"] == sample_digest.sentences[evidence["sentence"]]


def test_markdown_and_plain_show_every_topic_and_bullet(
    pipeline: Pipeline, sample_digest: Digest
) -> None:
    markdown = render(sample_digest, "md", pipeline.resources)
    plain = render(sample_digest, "txt", pipeline.resources)
    assert markdown.startswith(f"# {sample_digest.headline}")
    for topic in sample_digest.topics:
        assert f"## {topic.title}" in markdown
        for bullet in topic.bullets:
            said = f"{bullet.speaker}: {bullet.text}" if bullet.speaker else bullet.text
            assert f"- {said}" in markdown
            assert bullet.text in plain
    assert "Key names" in markdown


def test_telegram_html_escapes_text(pipeline: Pipeline) -> None:
    digest = Digest(
        "x.txt",
        "en",
        "en",
        'Tariffs <5%> & "quotas"',
        (Topic("trade", "Trade & economy", (Bullet("A < B & C > D", (0,)),)),),
        (Entity("AT&T", "organisation"),),
        "extractive",
    )
    html = render(digest, "html", pipeline.resources)
    assert "<b>Tariffs &lt;5%&gt; &amp; &quot;quotas&quot;</b>" in html
    assert "A &lt; B &amp; C &gt; D" in html
    assert check_telegram_html(html)


def test_long_digest_splits_on_topic_boundaries_within_the_limit(pipeline: Pipeline) -> None:
    # ~2,100 characters of HTML per topic: two topics never fit in one message, one always does.
    long_bullet = "Trade & <energy> " * 20
    topics = tuple(
        Topic(
            f"t{i}", f"Topic {i}", tuple(Bullet(f"{i}.{j} {long_bullet}", (j,)) for j in range(3))
        )
        for i in range(12)
    )
    digest = Digest("x.txt", "en", "en", "Headline", topics, (), "extractive")
    parts = split_telegram_html(digest, pipeline.resources)
    assert len(parts) > 1
    seen_titles = []
    for part in parts:
        assert len(part) <= 4096
        text = check_telegram_html(part)
        seen_titles += [line for line in text.split("\n") if line.startswith("Topic ")]
    # Every topic title appears once and a topic is never split when it fits in one message.
    assert seen_titles == [f"Topic {i}" for i in range(12)]
    for i in range(12):
        holders = [p for p in parts if f"<b>Topic {i}</b>" in p]
        assert len(holders) == 1 and all(f"{i}.{j} " in holders[0] for j in range(3))


def test_a_single_huge_bullet_is_cut_safely(pipeline: Pipeline) -> None:
    digest = Digest(
        "x.txt",
        "en",
        "en",
        "H",
        (Topic("t", "T", (Bullet("&<>" * 3000, (0,)),)),),
        (),
        "extractive",
    )
    parts = split_telegram_html(digest, pipeline.resources, limit=1000)
    assert all(len(p) <= 1000 for p in parts)
    assert "".join(check_telegram_html(p) for p in parts).count("&<>") == 3000


def test_unknown_format_is_a_clear_error(pipeline: Pipeline, sample_digest: Digest) -> None:
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        render(sample_digest, "pdf", pipeline.resources)


def test_schema_file_is_itself_valid_and_strict(pipeline: Pipeline, sample_digest: Digest) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    good = json.loads(render(sample_digest, "json", pipeline.resources))
    assert validator.is_valid(good)
    # A missing field, an unknown one and an unsupported language are all refused.
    assert not validator.is_valid({k: v for k, v in good.items() if k != "headline"})
    assert not validator.is_valid({**good, "extra": 1})
    assert not validator.is_valid({**good, "language": "fr"})
