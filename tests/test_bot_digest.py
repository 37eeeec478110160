"""End to end: the real Application over real HTTP against a fake Bot API on 127.0.0.1.

Pasted briefings, multi-part pastes, progress, the digest reply and its buttons (language
switch in place without recomputing, Markdown/JSON files), long digests, failures.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.texts import Texts
from digest.pipeline import Pipeline
from digest.render import render
from settings import PROJECT_ROOT
from tests.bot_harness import (
    CountingEngine,
    RunningBot,
    bot_settings,
    current_language,
    expected_parts,
    view_id,
    view_parts,
    wait_digests,
    wait_reply,
)
from tests.conftest import SAMPLES, SHARED_SAMPLES
from tests.fake_bot_api import FakeBotApi, FakeUser, parse_telegram_html

pytestmark = pytest.mark.timeout(60)
TEXTS = Texts.load(PROJECT_ROOT / "prompts")


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def warm_pipeline(pipeline: Pipeline) -> Pipeline:
    # The first run loads language profiles (about 2 s); do it once, outside the timings.
    pipeline.run(pipeline_doc(), ["en"])
    return pipeline


def pipeline_doc():  # type: ignore[no-untyped-def]
    from digest.model import Document

    return Document("warm.txt", (SAMPLES / "en_briefing.txt").read_text(encoding="utf-8"), "txt")


def briefing(name: str = "en_briefing.txt") -> str:
    path = SAMPLES / name if (SAMPLES / name).exists() else SHARED_SAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} is not present")
    return path.read_text(encoding="utf-8")


def test_pasted_briefing_gets_a_digest_that_replaces_the_status_message(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline, stage_delay=0.3)
    text = briefing("en_briefing.txt")
    user = FakeUser(101, language_code="en")
    with RunningBot(bot_settings(api, tmp_path), api, engine):
        sent = api.user_message(user, text)
        [last] = wait_digests(api, user.id)
    expected = expected_parts(warm_pipeline, text, "en")
    parts = view_parts(api, last, len(expected))
    assert [m.text for m in parts] == expected
    status = api.calls_of("sendMessage", user.id)[0]
    assert "Got it" in status.params["text"]
    # The status message became the digest (same message, edited), replying to the paste.
    assert parts[0].message_id == 2 and sent.message_id == 1
    assert current_language(last) == "en"
    assert engine.calls == 1 and engine.languages == [["en", "hi", "ru"]]
    assert engine.threads[0].startswith("digest-worker-")
    # Progress: "typing" and stage lines edited into the one status message before the digest.
    actions = api.calls_of("sendChatAction", user.id)
    assert actions and actions[0].params["action"] == "typing"
    edits = [c.params["text"] for c in api.calls_of("editMessageText", user.id)]
    assert any("✓ Language: English" in e for e in edits)
    assert any("✓ Topics found:" in e for e in edits)
    assert any("✓ Summarised" in e for e in edits)
    assert edits[-1] == expected[0]


def test_multi_part_paste_is_one_briefing(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    text = briefing("ru_briefing.txt")
    paragraphs = text.split("\n\n")
    third = len(paragraphs) // 3
    pieces = [
        "\n\n".join(paragraphs[:third]),
        "\n\n".join(paragraphs[third : 2 * third]),
        "\n\n".join(paragraphs[2 * third :]),
    ]
    user = FakeUser(102, language_code="ru")
    with RunningBot(bot_settings(api, tmp_path), api, engine):
        for piece in pieces:
            api.user_message(user, piece)
        wait_digests(api, user.id)
    assert engine.calls == 1
    for piece in pieces:
        assert piece.split("\n")[0].strip() in engine.docs[0].text
    received = [c for c in api.calls_of("sendMessage", user.id) if "Получено" in c.params["text"]]
    assert len(received) == 1
    # The user's Telegram language (ru) decides the digest language when none was chosen.
    [last] = wait_digests(api, user.id)
    assert current_language(last) == "ru"


def test_language_switch_edits_in_place_without_recomputing_and_files_come_as_documents(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    text = briefing("en_moscow_briefing.txt")
    user = FakeUser(103)
    settings = bot_settings(api, tmp_path)
    with RunningBot(settings, api, engine):
        api.user_message(user, text)
        [last] = wait_digests(api, user.id)
        view = view_id(last)
        before = len(api.calls_of("sendMessage", user.id))
        for presses, lang in enumerate(("ru", "hi", "en", "ru"), start=1):
            expected = expected_parts(warm_pipeline, text, lang)
            api.press(user, last, f"v:{view}:{lang}")

            # The callback is answered before the messages are edited: wait for the edits.
            def switched(n: int = presses, lang: str = lang, expected: list[str] = expected) -> bool:
                shown = view_parts(api, api.digest_messages(user.id)[-1], len(expected))
                return (
                    len(api.calls_of("answerCallbackQuery")) == n
                    and current_language(api.messages[(user.id, last.message_id)]) == lang
                    and [m.text for m in shown] == expected
                )

            api.wait_for(switched, what=f"switch to {lang}")
        assert len(api.calls_of("sendMessage", user.id)) == before  # edited, not re-sent
        # Files of the language shown (ru now).
        api.press(user, last, f"f:{view}:md")
        api.press(user, last, f"f:{view}:json")
        api.wait_for(lambda: len(api.calls_of("sendDocument", user.id)) == 2, what="two files")
    assert engine.calls == 1  # four switches and two files, one pipeline run
    docs = {c.files["document"][0]: c for c in api.calls_of("sendDocument", user.id)}
    ru = warm_pipeline.run(_doc(text), ["en", "hi", "ru"])["ru"]
    md_name = next(n for n in docs if n.endswith(".ru.md"))
    assert docs[md_name].files["document"][1].decode() == render(ru, "md", warm_pipeline.resources)
    json_name = next(n for n in docs if n.endswith(".ru.json"))
    data = json.loads(docs[json_name].files["document"][1])
    assert data["language"] == "ru" and data["schema_version"] == "1.2"
    assert "(Russian)" in docs[md_name].params["caption"]


def _doc(text: str):  # type: ignore[no-untyped-def]
    from digest.ingest import read_bytes

    return read_bytes(text.encode(), "message.txt", 10_000_000)


def test_buttons_keep_working_after_a_restart(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    text = briefing("hi_briefing.txt")
    user = FakeUser(104, language_code="hi")
    settings = bot_settings(api, tmp_path)
    with RunningBot(settings, api, engine):
        api.user_message(user, text)
        [last] = wait_digests(api, user.id)
    assert current_language(last) == "hi"
    with RunningBot(settings, api, engine):
        api.press(user, last, f"v:{view_id(last)}:en")
        api.wait_for(
            lambda: current_language(api.messages[(user.id, last.message_id)]) == "en",
            what="switch after restart",
        )
    assert engine.calls == 1
    assert (
        api.messages[(user.id, last.message_id)].text
        == expected_parts(warm_pipeline, text, "en")[-1]
    )


class StretchingTranslator:
    """A stand-in translation model: Russian comes out twice as long, Hindi half as long, so
    the three languages of one digest need different numbers of messages."""

    name = "stretch"

    def supports(self, source: str, target: str) -> bool:
        return source != target

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        if target == "ru":
            return [f"{t} {t}" for t in texts]
        if target == "hi":
            return [" ".join(t.split()[: max(3, len(t.split()) // 3)]) for t in texts]
        return texts


def test_long_digest_is_split_into_valid_messages_and_switches_between_part_counts(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    # Many long bullets: the digest of two English briefings runs over 4,096 characters.
    settings = bot_settings(
        api,
        tmp_path,
        BRIEFING_DIGEST_SUMMARY__MAX_BULLETS="10",
        BRIEFING_DIGEST_SUMMARY__BULLET_MAX_WORDS="200",
    )
    pipeline = Pipeline(settings)
    translator = StretchingTranslator()
    pipeline.registry.translator = lambda: translator  # type: ignore[method-assign]
    engine = CountingEngine(pipeline)
    text = briefing("en_briefing.txt") + "\n\n" + briefing("en_moscow_briefing.txt")
    user = FakeUser(105)
    counts = {lang: len(expected_parts(pipeline, text, lang)) for lang in ("en", "hi", "ru")}
    assert counts["hi"] < counts["en"] < counts["ru"], counts
    with RunningBot(settings, api, engine):
        api.user_message(user, text)
        view = view_id(wait_digests(api, user.id)[0])
        for presses, lang in enumerate(("en", "ru", "hi", "en", "hi", "ru"), start=0):
            if presses:
                api.press(user, api.digest_messages(user.id)[-1], f"v:{view}:{lang}")
                api.wait_for(
                    lambda n=presses: len(api.calls_of("answerCallbackQuery")) == n,
                    what=f"switch to {lang}",
                )
            shown = api.digest_messages(user.id)
            assert [m.text for m in shown] == expected_parts(pipeline, text, lang), lang
            assert current_language(shown[-1]) == lang
            for message in shown:
                assert message.text is not None and len(message.text) <= 4096
                parse_telegram_html(message.text)  # valid Telegram HTML
            # Only the last part carries the buttons.
            assert [bool(m.reply_markup) for m in shown] == [False] * (len(shown) - 1) + [True]
        # Two quick taps: handled one after the other, the digest ends up whole in one language.
        answered = len(api.calls_of("answerCallbackQuery"))
        api.press(user, api.digest_messages(user.id)[-1], f"v:{view}:hi")
        api.press(user, api.digest_messages(user.id)[-1], f"v:{view}:ru")
        api.wait_for(
            lambda: len(api.calls_of("answerCallbackQuery")) == answered + 2, what="two taps"
        )
        shown = api.digest_messages(user.id)
        final = current_language(shown[-1])
        assert [m.text for m in shown] == expected_parts(pipeline, text, final)
    assert engine.calls == 1
    assert api.calls_of("deleteMessage", user.id)  # hi needed fewer messages than ru
    # Every text the bot sent passed the fake API's checks, which refuse > 4,096 characters.
    for call in api.calls_of("sendMessage") + api.calls_of("editMessageText"):
        assert len(call.params["text"]) <= 4096


def test_a_failing_job_gets_an_apology_with_a_reference_and_the_bot_keeps_going(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = CountingEngine(warm_pipeline, fail_on="SIMULATED-FAILURE")
    user = FakeUser(106)
    text = briefing("en_briefing.txt")
    caplog.set_level(logging.INFO)
    with RunningBot(bot_settings(api, tmp_path), api, engine):
        api.user_message(user, "SIMULATED-FAILURE " + text)
        apology = wait_reply(api, user.id, "Reference:")
        ref = apology.text.split("Reference: ")[1].split(".")[0]  # type: ignore[union-attr]
        assert len(ref) == 8
        api.user_message(user, text)
        wait_digests(api, user.id)
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)
    assert api.token not in caplog.text
