"""/follow end to end: the real bot against the fake Bot API and a real feed server.

Two chats (English and Russian) follow one feed and a channel follows a listing page. New
items arrive once each, in each chat's language, with "New since ..."; a restart while
posts are held back loses none and doubles none; a failing source is reported once and its
recovery too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.follow_commands import FollowArgs, parse_follow
from digest.pipeline import Pipeline
from tests.bot_harness import CountingEngine, RunningBot, bot_settings, wait_digests, wait_reply
from tests.fake_bot_api import FakeBotApi, FakeUser
from tests.feed_site import EVAL, SAMPLES, FeedSite, Page, listing, rss, transcript

pytestmark = pytest.mark.timeout(120)

ALICE = FakeUser(11, "Alice", "en")
BORIS = FakeUser(12, "Boris", "ru")
ADMIN = FakeUser(13, "Admin", "en")
STRANGER = FakeUser(14, "Stranger", "en")
CHANNEL = -1001234

# Oldest first. The third has topics the second lacks: its digest marks them new.
TRANSCRIPTS = [
    EVAL / "composed-hi-4.en.txt",
    EVAL / "composed-hi-2.en.txt",
    SAMPLES / "en_briefing.txt",
]
DATES = [
    "Mon, 24 Nov 2026 10:00:00 GMT",
    "Fri, 28 Nov 2026 10:00:00 GMT",
    "Sun, 30 Nov 2026 10:00:00 GMT",
]


@pytest.fixture()
def site() -> Iterator[FeedSite]:
    with FeedSite() as running:
        for i, path in enumerate(TRANSCRIPTS):
            running.set(f"/b{i}.txt", transcript(path))
        running.set("/briefings/l0.txt", transcript(EVAL / "composed-ru-1.en.txt"))
        running.set("/briefings/", listing([("/briefings/l0.txt", "Briefing of the MFA")]))
        yield running


def _publish(site: FeedSite, count: int) -> None:
    items = [(f"g{i}", site.url(f"/b{i}.txt"), f"Briefing {i}", DATES[i]) for i in range(count)]
    site.set("/feed.xml", rss(list(reversed(items))))


def _texts(api: FakeBotApi, chat_id: int) -> list[str]:
    return [m.text or "" for m in api.bot_messages(chat_id)]


def _all(api: FakeBotApi, chat_id: int) -> str:
    return "\n".join(_texts(api, chat_id))


def test_followers_get_each_new_briefing_once_in_their_language(
    site: FeedSite, tmp_path: Path, pipeline: Pipeline
) -> None:
    _publish(site, 2)
    with FakeBotApi() as api:
        api.add_channel(CHANNEL, "mfa_digest", {ADMIN.id: True, api.bot_user["id"]: True})
        settings = bot_settings(
            api,
            tmp_path,
            BRIEFING_DIGEST_FETCH__ALLOW_PRIVATE_NETWORKS="true",
            BRIEFING_DIGEST_SOURCES__CHECK_INTERVAL_S="1",
            BRIEFING_DIGEST_SOURCES__MIN_INTERVAL_S="0.5",
            BRIEFING_DIGEST_SOURCES__POLL_EVERY_S="0.2",
            BRIEFING_DIGEST_SOURCES__MAX_BACKOFF_S="2",
            BRIEFING_DIGEST_SOURCES__FAILING_NOTICE_AFTER_S="1",
            # A Bot API failure holds a post back at once (no in-call retries).
            BRIEFING_DIGEST_TELEGRAM__API_RETRY_S="0",
        )
        feed = site.url("/feed.xml")
        first_engine = CountingEngine(pipeline)
        with RunningBot(settings, api, first_engine):
            api.user_message(ALICE, "/follow")
            wait_reply(api, ALICE.id, "Usage: /follow URL")
            api.user_message(ALICE, f"/follow {feed}")
            wait_reply(api, ALICE.id, f"Following {feed}")
            wait_digests(api, ALICE.id, 1)
            # Only the newest item of the backlog, with its link.
            shown = _all(api, ALICE.id)
            assert site.url("/b1.txt") in shown and site.url("/b0.txt") not in shown
            api.user_message(BORIS, f"/follow {feed}")
            wait_reply(api, BORIS.id, f"Подписка на {feed} оформлена")
            wait_digests(api, BORIS.id, 1)
            assert site.url("/b1.txt") in _all(api, BORIS.id)
            # Digested and fetched once for both chats.
            assert site.hits["/b1.txt"] == 1 and first_engine.calls == 1

            # A channel: only its admin may subscribe it, from a private chat.
            listing_url = site.url("/briefings/")
            api.user_message(STRANGER, f"/follow {listing_url} /briefings/ @mfa_digest")
            wait_reply(api, STRANGER.id, "Only an admin of @mfa_digest can subscribe it.")
            api.user_message(ADMIN, f"/follow {listing_url} /briefings/ @mfa_digest")
            wait_reply(api, ADMIN.id, f"@mfa_digest now follows {listing_url}")
            wait_digests(api, CHANNEL, 1)
            assert site.url("/briefings/l0.txt") in _all(api, CHANNEL)

            # A new briefing while Telegram refuses every post: it waits in the outbox.
            api.fail("sendMessage", times=10_000)
            _publish(site, 3)
            api.wait_for(
                lambda: any(method == "sendMessage" for method, _ in api.failed),
                what="a post held back",
            )
            assert site.hits["/b2.txt"] == 1
        # Restarted with Telegram working again: the held-back posts arrive, once each.
        api.faults.clear()
        second_engine = CountingEngine(pipeline)
        with RunningBot(settings, api, second_engine):
            wait_digests(api, ALICE.id, 2)
            wait_digests(api, BORIS.id, 2)
            assert site.url("/b2.txt") in _all(api, ALICE.id)
            # "What's new": the third briefing's topics that the second lacked.
            assert "New since 28 Nov" in _all(api, ALICE.id)
            assert "Новое с 28 ноября" in _all(api, BORIS.id)
            # The digest made before the restart was kept: not fetched or digested again.
            assert second_engine.calls == 0 and site.hits["/b2.txt"] == 1

            # A failing source: its followers hear it once, and again when it recovers.
            site.set("/briefings/", Page(b"down", status=500))
            wait_reply(api, CHANNEL, "has failed for more than")
            site.set("/briefings/", listing([("/briefings/l0.txt", "Briefing of the MFA")]))
            wait_reply(api, CHANNEL, f"✓ {listing_url} works again.")
            assert sum("has failed" in t for t in _texts(api, CHANNEL)) == 1

            api.user_message(ALICE, "/following")
            listed = wait_reply(api, ALICE.id, "Sources this chat follows:")
            assert feed in (listed.text or "") and "Briefing 2" in (listed.text or "")
            api.user_message(ALICE, "/unfollow")
            prompt = wait_reply(api, ALICE.id, "Tap a source to stop following it:")
            [button] = prompt.callback_data()
            api.press(ALICE, prompt, button)
            wait_reply(api, ALICE.id, f"Stopped following {feed}.")
            api.user_message(ALICE, "/following")
            wait_reply(api, ALICE.id, "This chat follows no sources.")
        # Each chat got each briefing once: nothing lost, nothing doubled by the restart.
        assert len(wait_digests(api, ALICE.id, 2)) == 2
        assert len(wait_digests(api, BORIS.id, 2)) == 2
        assert len(wait_digests(api, CHANNEL, 1)) == 1


def test_only_a_group_admin_changes_what_a_group_follows(
    site: FeedSite, tmp_path: Path, pipeline: Pipeline
) -> None:
    _publish(site, 2)
    group = {"id": -500, "type": "group", "title": "Desk"}
    with FakeBotApi() as api:
        api.group_admins[-500] = {ADMIN.id}
        settings = bot_settings(
            api,
            tmp_path,
            BRIEFING_DIGEST_FETCH__ALLOW_PRIVATE_NETWORKS="true",
            BRIEFING_DIGEST_SOURCES__POLL_EVERY_S="0.2",
        )
        feed = site.url("/feed.xml")
        with RunningBot(settings, api, CountingEngine(pipeline)):
            api.user_message(STRANGER, f"/follow {feed}", chat=group)
            wait_reply(api, -500, "Only an admin of this group can change what it follows.")
            api.user_message(ADMIN, f"/follow {feed} every 1 min", chat=group)
            wait_reply(api, -500, "Sources are checked at most every 5 min.")
            api.user_message(ADMIN, f"/follow {feed} every 10 min", chat=group)
            wait_reply(api, -500, f"Following {feed}")
            wait_digests(api, -500, 1)
            api.user_message(STRANGER, "/unfollow", chat=group)
            assert (
                len(
                    api.wait_for(
                        lambda: [t for t in _texts(api, -500) if "Only an admin" in t][1:],
                        what="a second refusal",
                    )
                )
                == 1
            )
            api.user_message(ADMIN, f"/follow {feed}", chat=group)
            wait_reply(api, -500, f"This chat already follows {feed}.")
        assert site.hits["/b1.txt"] == 1 and site.hits["/b0.txt"] == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/follow https://x.org/f", FollowArgs("https://x.org/f")),
        (
            "/follow https://x.org/l /briefings/ @desk every 45 min",
            FollowArgs("https://x.org/l", "/briefings/", "@desk", 45.0),
        ),
        (
            "/follow@digest_bot @desk https://x.org/f every 90m",
            FollowArgs("https://x.org/f", None, "@desk", 90.0),
        ),
        ("/follow", None),
        ("/follow https://x.org/l a b", None),  # one pattern at most
        ("/follow https://x.org/f every soon", None),
    ],
)
def test_follow_arguments(text: str, expected: FollowArgs | None) -> None:
    assert parse_follow(text) == expected
