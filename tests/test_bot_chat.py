"""End to end: commands, per-chat settings across restarts, access, groups, queue and limits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.texts import Texts
from digest.pipeline import Pipeline
from settings import PROJECT_ROOT
from tests.bot_harness import (
    CountingEngine,
    RunningBot,
    bot_settings,
    current_language,
    digest_views,
    expected_parts,
    view_parts,
    wait_digests,
    wait_reply,
)
from tests.conftest import SAMPLES
from tests.fake_bot_api import FakeBotApi, FakeUser

pytestmark = pytest.mark.timeout(60)
TEXTS = Texts.load(PROJECT_ROOT / "prompts")


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


def briefing(name: str = "en_briefing.txt") -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def sent(api: FakeBotApi, chat_id: int, needle: str) -> int:
    """How many messages the bot sent to the chat with ``needle`` (whatever they became since)."""
    return len([c for c in api.calls_of("sendMessage", chat_id) if needle in c.params["text"]])


def test_start_and_help_in_the_users_language_and_menus_per_language(
    api: FakeBotApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    users = {
        "en": FakeUser(201, language_code="en-GB"),
        "hi": FakeUser(202, language_code="hi"),
        "ru": FakeUser(203, language_code="ru"),
        "de": FakeUser(204, language_code="de"),
    }
    with RunningBot(bot_settings(api, tmp_path), api, CountingEngine(pipeline)):
        for user in users.values():
            api.user_message(user, "/start")
            api.user_message(user, "/help")
        for lang, user in users.items():
            ui = "en" if lang == "de" else lang
            wait_reply(api, user.id, TEXTS.get(ui, "start")[:40])
            wait_reply(api, user.id, TEXTS.get(ui, "help", max_mb="20")[:40])
    help_ru = next(
        m.text
        for m in api.bot_messages(203)
        if "/lang" in (m.text or "") and "МБ" in (m.text or "")
    )
    assert "до 20 МБ" in help_ru
    # The command menu in each language; English is the default for everyone else.
    assert {c.params.get("language_code", "") for c in api.calls_of("setMyCommands")} == {
        "",
        "hi",
        "ru",
    }
    assert [c["command"] for c in api.commands[""]] == [
        "start",
        "help",
        "digest",
        "lang",
        "settings",
        "status",
        "cancel",
        "follow",
        "following",
        "unfollow",
    ]
    assert api.commands["ru"][0]["description"] == TEXTS.get("ru", "commands.start")
    assert api.commands["hi"][3]["description"] == TEXTS.get("hi", "commands.lang")


def test_lang_choice_is_kept_across_a_restart(
    api: FakeBotApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(pipeline)
    user = FakeUser(205, language_code="en")
    settings = bot_settings(api, tmp_path)
    with RunningBot(settings, api, engine):
        api.user_message(user, "/lang")
        menu = wait_reply(api, user.id, "Choose the digest languages")
        assert [b["text"] for b in menu.reply_markup["inline_keyboard"][0]] == [  # type: ignore[index]
            "✓ English",
            "हिन्दी",
            "Русский",
        ]
        api.press(user, menu, "l:en")  # the last language cannot be removed
        api.wait_for(lambda: len(api.calls_of("answerCallbackQuery")) == 1, what="refusal")
        assert (
            api.calls_of("answerCallbackQuery")[0].params["text"] == "Keep at least one language."
        )
        api.press(user, menu, "l:hi")  # two quick taps: neither may be lost
        api.press(user, menu, "l:ru")
        api.wait_for(lambda: len(api.calls_of("answerCallbackQuery")) == 3, what="two toggles")
        api.press(user, menu, "l:en")
        api.wait_for(lambda: len(api.calls_of("answerCallbackQuery")) == 4, what="third toggle")
        assert [b["text"] for b in menu.reply_markup["inline_keyboard"][0]] == [  # type: ignore[index]
            "English",
            "✓ हिन्दी",
            "✓ Русский",
        ]
        api.press(user, menu, "l:done")
        wait_reply(api, user.id, "Digest languages: Hindi, Russian.")
    with RunningBot(settings, api, engine):
        api.user_message(user, "/settings")
        wait_reply(api, user.id, "Digest languages: Hindi, Russian")
        api.user_message(user, briefing())
        views = wait_digests(api, user.id, count=2)
    # One digest per chosen language, in order, each with its own buttons.
    assert [current_language(v) for v in views] == ["hi", "ru"]
    for view, lang in zip(views, ["hi", "ru"], strict=True):
        expected = expected_parts(pipeline, briefing(), lang)
        assert [m.text for m in view_parts(api, view, len(expected))] == expected
    assert engine.calls == 1


def test_unauthorised_users_are_refused_and_logged(
    api: FakeBotApi, pipeline: Pipeline, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = CountingEngine(pipeline)
    allowed, stranger = FakeUser(206), FakeUser(207)
    group = {"id": -100900, "type": "supergroup", "title": "Other desk"}
    settings = bot_settings(api, tmp_path, BRIEFING_DIGEST_TELEGRAM__ALLOWED_USER_IDS="[206]")
    with RunningBot(settings, api, engine):
        api.user_message(stranger, briefing())
        api.user_message(stranger, "/start")
        api.user_message(stranger, "@digest_test_bot " + briefing(), chat=group)
        api.user_message(allowed, briefing())
        wait_digests(api, allowed.id)
        api.wait_for(lambda: len(api.bot_messages(stranger.id)) == 2, what="two refusals")
    assert [m.text for m in api.bot_messages(stranger.id)] == ["Sorry, this bot is private."] * 2
    assert api.bot_messages(group["id"]) == []  # refused silently in groups
    assert engine.calls == 1
    assert "refused update from user 207" in caplog.text


def test_groups_only_when_addressed(api: FakeBotApi, pipeline: Pipeline, tmp_path: Path) -> None:
    engine = CountingEngine(pipeline)
    alice, bob = FakeUser(208), FakeUser(209)
    group = {"id": -100123, "type": "supergroup", "title": "Desk"}
    with RunningBot(bot_settings(api, tmp_path), api, engine):
        transcript = api.user_message(alice, briefing(), chat=group)
        api.user_message(
            bob, "Has anyone read this yet? It is long and I am busy today.", chat=group
        )
        api.user_message(bob, "/digest", chat=group, reply_to=transcript)
        [first] = wait_digests(api, group["id"])
        api.user_message(alice, "@digest_test_bot " + briefing("ru_briefing.txt"), chat=group)
        wait_digests(api, group["id"], count=2)
    assert engine.calls == 2
    # /digest in reply digests the message replied to, not the command.
    assert engine.docs[0].text.startswith("Joint press briefing")
    expected = expected_parts(pipeline, briefing(), "en")
    assert [m.text for m in view_parts(api, first, len(expected))] == expected
    # Nothing but the two status messages that became digests: chatter got no answer.
    assert len(api.calls_of("sendMessage", group["id"])) == 2
    assert len(digest_views(api, group["id"])) == 2


def test_a_forwarded_transcript_gets_a_digest(
    api: FakeBotApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(pipeline)
    reader, press_office = FakeUser(214), FakeUser(215, first_name="Press office")
    with RunningBot(bot_settings(api, tmp_path), api, engine):
        api.user_message(reader, briefing("hi_briefing.txt"), forwarded_from=press_office)
        [last] = wait_digests(api, reader.id)
    expected = expected_parts(pipeline, briefing("hi_briefing.txt"), "en")
    assert [m.text for m in view_parts(api, last, len(expected))] == expected
    assert engine.calls == 1


def test_status_cancel_rate_limit_and_a_full_queue(
    api: FakeBotApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    gate = threading.Event()
    engine = CountingEngine(pipeline, gate=gate)
    busy, patient, late, eager = FakeUser(210), FakeUser(211), FakeUser(212), FakeUser(213)
    settings = bot_settings(
        api,
        tmp_path,
        BRIEFING_DIGEST_TELEGRAM__WORKERS="1",
        BRIEFING_DIGEST_TELEGRAM__QUEUE_SIZE="2",
        BRIEFING_DIGEST_TELEGRAM__RATE_LIMIT_PER_MINUTE="2",
    )
    with RunningBot(settings, api, engine):
        try:
            api.user_message(busy, briefing())
            api.wait_for(lambda: engine.calls == 1, what="the first job to run")
            api.user_message(busy, "/status")
            wait_reply(api, busy.id, "being digested right now")
            api.user_message(busy, briefing("ru_briefing.txt"))  # waits: one job at a time per user
            api.wait_for(lambda: sent(api, busy.id, "Got it") == 2, what="second job queued")
            api.user_message(patient, briefing())
            api.wait_for(lambda: len(api.bot_messages(patient.id)) == 1, what="patient queued")
            api.user_message(patient, "/status")
            wait_reply(api, patient.id, "number 2 in the queue")
            api.user_message(late, briefing())
            wait_reply(api, late.id, "the queue is full")
            api.user_message(busy, "/cancel")
            wait_reply(api, busy.id, "Dropped 2 queued or running")
            # The waiting job's status message says so at once; the running one at its next stage.
            api.wait_for(
                lambda: [m.text for m in api.bot_messages(busy.id)].count("Cancelled.") == 1,
                what="waiting job cancelled",
            )
            gate.set()
            api.wait_for(
                lambda: [m.text for m in api.bot_messages(busy.id)].count("Cancelled.") == 2,
                what="running job cancelled",
            )
            wait_digests(api, patient.id)
            api.user_message(busy, "/status")
            wait_reply(api, busy.id, "nothing in the queue")
            for _ in range(3):  # commands are not gathered like pasted parts
                api.user_message(eager, "/digest " + briefing())
            wait_reply(api, eager.id, "Please try again in")
            wait_digests(api, eager.id, count=2)
        finally:
            gate.set()
    assert digest_views(api, busy.id) == []
    assert digest_views(api, late.id) == []
