"""The bot's parts on their own: token, UI strings, keyboards, queue, limits, store, gathering."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from bot.access import is_allowed
from bot.app import RedactToken, TokenError, token_from_env
from bot.durable_queue import DurableJobQueue, QueueDatabase, UpdateVerdict
from bot.gather import Paste
from bot.jobs import Job, JobState, Outcome, Source
from bot.keyboards import Callback, digest_keyboard, language_keyboard, parse
from bot.ratelimit import RateLimiter
from bot.rendering import RenderedDigest, RenderedLanguage
from bot.services import NotStartedError, Services
from bot.store import MEMORY_DIGESTS, Store
from bot.texts import Texts, ui_language
from digest.resources import ResourceError
from settings import PROJECT_ROOT, load_settings
from settings.schema import TelegramSettings
from tests.fake_bot_api import HtmlError, parse_telegram_html

pytestmark = pytest.mark.timeout(30)

GOOD_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"


# -- token ----------------------------------------------------------------------------------
def test_token_comes_from_the_environment() -> None:
    assert token_from_env({"TELEGRAM_BOT_TOKEN": GOOD_TOKEN}) == GOOD_TOKEN
    assert token_from_env({"TELEGRAM_BOT_TOKEN": f"  {GOOD_TOKEN}\n"}) == GOOD_TOKEN


@pytest.mark.parametrize(
    "value", ["", "   ", "not-a-token", "123:short", "abc:" + "A" * 35, "123456:" + "A" * 29 + "!"]
)
def test_missing_or_malformed_token_is_one_line_without_the_value(value: str) -> None:
    with pytest.raises(TokenError) as info:
        token_from_env({"TELEGRAM_BOT_TOKEN": value} if value else {})
    message = str(info.value)
    assert "TELEGRAM_BOT_TOKEN" in message and "\n" not in message
    if value.strip():
        assert value.strip() not in message


def test_token_is_redacted_from_log_records_and_tracebacks() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "POST %s", (f"https://x/bot{GOOD_TOKEN}/getMe",), None
    )
    RedactToken(GOOD_TOKEN).filter(record)
    assert GOOD_TOKEN not in record.getMessage() and "<token>" in record.getMessage()
    try:
        raise RuntimeError(f"url https://x/bot{GOOD_TOKEN}/getMe failed")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    RedactToken(GOOD_TOKEN).filter(record)
    assert record.exc_text and GOOD_TOKEN not in record.exc_text
    assert GOOD_TOKEN not in logging.Formatter().format(record)


# -- UI strings -----------------------------------------------------------------------------
def test_every_ui_string_exists_in_every_language() -> None:
    texts = Texts.load(PROJECT_ROOT / "prompts")
    for lang in ("en", "hi", "ru"):
        assert texts.get(lang, "status_queued", position=3).count("3") == 1
        assert len(texts.commands(lang)) == 10
    assert texts.get("hi", "start") != texts.get("en", "start") != texts.get("ru", "start")
    assert texts.language_list(["en", "ru"], "ru") == "английский, русский"


def test_ui_strings_with_a_missing_key_or_placeholder_are_refused(tmp_path: Path) -> None:
    source = (PROJECT_ROOT / "prompts" / "ui.toml").read_text(encoding="utf-8")
    (tmp_path / "ui.toml").write_text(
        source.replace('status_queued = "Ваш брифинг в очереди под номером {position}."', ""),
        encoding="utf-8",
    )
    with pytest.raises(ResourceError, match=r"ru\.status_queued is missing"):
        Texts.load(tmp_path)
    (tmp_path / "ui.toml").write_text(
        source.replace("Reference: {ref}.", "Reference: {reference}."), encoding="utf-8"
    )
    with pytest.raises(ResourceError, match=r"hi\.failure has placeholders"):
        Texts.load(tmp_path)


@pytest.mark.parametrize(
    ("code", "expected"),
    [("ru", "ru"), ("hi-IN", "hi"), ("en-GB", "en"), ("de", "en"), (None, "en"), ("", "en")],
)
def test_ui_language_follows_telegram_else_english(code: str | None, expected: str) -> None:
    assert ui_language(code) == expected


# -- keyboards ------------------------------------------------------------------------------
def test_keyboards_carry_short_parseable_callback_data() -> None:
    texts = Texts.load(PROJECT_ROOT / "prompts")
    markup = digest_keyboard(texts, "en", "a1b2c3d4", "hi")
    buttons = [b for row in markup.inline_keyboard for b in row]
    assert [b.callback_data for b in buttons] == [
        "v:a1b2c3d4:en",
        "v:a1b2c3d4:hi",
        "v:a1b2c3d4:ru",
        "f:a1b2c3d4:md",
        "f:a1b2c3d4:json",
    ]
    assert buttons[1].text.startswith("✓")
    for button in buttons:
        assert len(str(button.callback_data).encode()) <= 64
        assert parse(str(button.callback_data)) is not None
    lang = language_keyboard(texts, "ru", ["en", "ru"])
    labels = [b.text for row in lang.inline_keyboard for b in row]
    assert labels == ["✓ English", "हिन्दी", "✓ Русский", "Готово"]
    assert parse("v:x:de") is None and parse("f:x:exe") is None and parse("junk") is None
    assert parse("l:done") == Callback("l", "", "done")


# -- access ---------------------------------------------------------------------------------
def test_allow_list() -> None:
    open_bot = TelegramSettings()
    assert is_allowed(open_bot, 5, 5)
    users = TelegramSettings(allowed_user_ids=[1])
    assert is_allowed(users, 1, 1) and is_allowed(users, 1, -100)
    assert not is_allowed(users, 2, 2) and not is_allowed(users, None, None)
    chats = TelegramSettings(allowed_chat_ids=[-100])
    assert is_allowed(chats, 7, -100) and not is_allowed(chats, 7, 7)


# -- rate limit -----------------------------------------------------------------------------
def test_rate_limit_is_a_sliding_minute_per_user() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.acquire(1) == 0
    assert limiter.acquire(1) == 0
    assert limiter.acquire(1) == pytest.approx(60.0)  # refused, and not counted
    assert limiter.retry_after(1) == pytest.approx(60.0)
    limiter.refund(1)
    assert limiter.retry_after(1) == 0
    assert limiter.acquire(1) == 0
    assert limiter.retry_after(2) == 0  # other users are not affected
    now[0] += 30
    assert limiter.retry_after(1) == pytest.approx(30.0)
    now[0] += 30
    assert limiter.retry_after(1) == 0


# -- job queue ------------------------------------------------------------------------------
def _job(job_id: str, user: int) -> Job:
    return Job(job_id, user, user, Source("text", "x"), ("en",), "en")


def test_a_failing_runner_does_not_kill_the_worker() -> None:
    done = threading.Event()

    def runner(job: Job, cancel: threading.Event) -> None:
        if job.id == "bad":
            raise RuntimeError("boom")
        done.set()

    db = QueueDatabase(None)
    queue = DurableJobQueue(db, runner, workers=1, max_waiting=5)
    queue.start()
    try:
        queue.submit(_job("bad", 1))
        queue.submit(_job("good", 1))
        assert done.wait(5)
    finally:
        queue.stop(5)
        db.close()


# -- store ----------------------------------------------------------------------------------
def _rendered(digest_id: str) -> RenderedDigest:
    return RenderedDigest(
        digest_id,
        "b.txt",
        "en",
        {
            lang: RenderedLanguage((f"<b>{lang}</b>", "part 2"), f"# {lang}", "{}")
            for lang in ("en", "hi", "ru")
        },
    )


def test_store_keeps_chat_languages_and_digests_across_reopen(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert store.chat_languages(5) is None
    store.set_chat_languages(5, ["hi", "ru"])
    store.set_chat_languages(5, ["ru"])
    store.save_digest(_rendered("d1"), 5)
    store.close()
    reopened = Store(tmp_path)
    assert reopened.chat_languages(5) == ["ru"]
    assert reopened.digest("d1") == _rendered("d1")
    assert reopened.digest("nope") is None
    reopened.close()


def test_store_memory_cache_is_bounded(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for i in range(MEMORY_DIGESTS + 5):
        store.save_digest(_rendered(f"d{i}"), 1)
    assert len(store._memory) == MEMORY_DIGESTS
    assert store.digest("d0") == _rendered("d0")  # evicted from memory, read from SQLite
    store.close()


# -- gathering ------------------------------------------------------------------------------
def test_paste_parts_join_in_message_order() -> None:
    paste = Paste((1, 1), parts=[(12, "third"), (10, "first"), (11, "second")])
    assert paste.text == "first\nsecond\nthird"
    cut = "word " * 800 + "unfinished"
    assert Paste((1, 1), parts=[(1, cut), (2, "sentence continues.")]).text.endswith(
        "unfinished sentence continues."
    )


# -- the fake server's HTML check is itself strict ----------------------------------------------
def test_fake_api_html_check_accepts_telegram_html_and_refuses_the_rest() -> None:
    assert parse_telegram_html("<b>a &amp; b</b>\n<i>x&lt;y</i> &#8226;") == "a & b\nx<y •"
    for bad in ["<b>open", "<p>para</p>", "a & b", "<b><i>x</b></i>", "1 > 0", "&nbsp;"]:
        with pytest.raises(HtmlError):
            parse_telegram_html(bad)


# -- storage connections, states, services ----------------------------------------------------
def test_both_stores_open_sqlite_the_same_durable_way(tmp_path: Path) -> None:
    store, queue = Store(tmp_path), QueueDatabase(tmp_path)
    try:
        for db in (store._db, queue._db):
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
            assert db.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    finally:
        store.close()
        queue.close()


def test_claiming_an_update_answers_with_a_state(tmp_path: Path) -> None:
    db = QueueDatabase(tmp_path)
    try:
        assert db.claim_update(1, "{}", max_attempts=2) is UpdateVerdict.HANDLE
        assert db.claim_update(1, "{}", max_attempts=2) is UpdateVerdict.HANDLE
        assert db.claim_update(1, "{}", max_attempts=2) is UpdateVerdict.POISON
        assert db.claim_update(1, "{}", max_attempts=2) is UpdateVerdict.DONE
        db.claim_update(2, "{}", max_attempts=1)
        db.release_update(2)  # a passing failure does not count towards the limit
        assert db.claim_update(2, "{}", max_attempts=1) is UpdateVerdict.HANDLE
    finally:
        db.close()


def test_a_job_outcome_decides_its_state() -> None:
    assert JobState.after(Outcome.DONE) is JobState.DONE
    assert JobState.after(Outcome.CANCELLED) is JobState.CANCELLED
    assert JobState.after(Outcome.GIVEN_UP) is JobState.FAILED
    assert {o.value for o in Outcome} == {"done", "failed", "cancelled", "retry", "given_up"}


def test_the_parts_that_exist_only_while_running_say_so_before_the_start(
    tmp_path: Path,
) -> None:
    services = Services(
        settings=load_settings(environ={"BRIEFING_DIGEST_DATA_DIR": str(tmp_path)}),
        digester=None,  # type: ignore[arg-type]
        texts=Texts.load(PROJECT_ROOT / "prompts"),
        store=Store(tmp_path),
        limiter=RateLimiter(1),
        job_queue_factory=lambda runner, svc: None,  # type: ignore[arg-type,return-value]
    )
    try:
        assert services.started is None
        with pytest.raises(NotStartedError, match="has not started"):
            _ = services.jobs
    finally:
        services.store.close()
