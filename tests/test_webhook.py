"""Webhook mode end to end: the real Application and webhook server on 127.0.0.1, real
``Update`` JSON posted over HTTP, the fake Bot API answering the bot.

Covered: registration (setWebhook with the secret and the allowed updates); the right secret →
digest; a wrong or missing secret → 403 and nothing handled or stored; malformed or invalid
bodies → 400 and the next update still works; oversize bodies (by Content-Length and while
streaming) → 413; wrong method → 405, wrong path → 404; the same update twice → one digest;
/healthz, /readyz (also "stuck") and /metrics.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from digest.model import Document
from digest.pipeline import Pipeline
from tests.bot_harness import CountingEngine, expected_parts, view_parts, wait_digests, wait_reply
from tests.conftest import SAMPLES
from tests.fake_bot_api import FakeUser
from tests.webhook_harness import (
    PUBLIC_URL,
    SECRET,
    WebhookBot,
    WebhookFakeApi,
    webhook_settings,
)

pytestmark = pytest.mark.timeout(60)
BRIEFING = (SAMPLES / "en_briefing.txt").read_text(encoding="utf-8")


@pytest.fixture
def api() -> Iterator[WebhookFakeApi]:
    with WebhookFakeApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def warm_pipeline(pipeline: Pipeline) -> Pipeline:
    # The first run loads language profiles (about 2 s): once, outside the tests.
    pipeline.run(Document("warm.txt", BRIEFING, "txt"), ["en"])
    return pipeline


def stored_updates(data_dir: Path) -> dict[int, str]:
    with sqlite3.connect(data_dir / "queue.sqlite3") as db:
        return dict(db.execute("SELECT update_id, state FROM updates"))


def replies(api: WebhookFakeApi, chat_id: int) -> list[str]:
    return [m.text or "" for m in api.bot_messages(chat_id)]


def test_the_webhook_is_registered_and_a_posted_update_gets_its_digest(
    api: WebhookFakeApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    user = FakeUser(301)
    with WebhookBot(webhook_settings(api, tmp_path), api, engine) as bot:
        [call] = api.calls_of("setWebhook")
        assert call.params["url"] == PUBLIC_URL
        assert call.params["secret_token"] == SECRET
        assert json.loads(call.params["allowed_updates"]) == ["message", "callback_query"]
        assert call.params.get("drop_pending_updates") in (None, "False", "false")
        assert call.params["max_connections"] == "40"
        assert not api.calls_of("getUpdates")  # no polling in webhook mode
        update = api.update(user, BRIEFING)
        response = bot.post(update)
        assert response.status_code == 200
        # Answered only once stored.
        assert stored_updates(tmp_path)[update["update_id"]] in ("new", "done")
        [last] = wait_digests(api, user.id)
    expected = expected_parts(warm_pipeline, BRIEFING, "en")
    assert [m.text for m in view_parts(api, last, len(expected))] == expected
    assert engine.calls == 1
    assert stored_updates(tmp_path) == {update["update_id"]: "done"}


def test_a_wrong_or_missing_secret_is_403_and_nothing_is_handled_or_kept(
    api: WebhookFakeApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    intruder, user = FakeUser(302), FakeUser(303)
    with WebhookBot(webhook_settings(api, tmp_path), api, engine) as bot:
        for secret in (None, "", "wrong-secret", SECRET + "x", SECRET[:-1], "ü".encode() * 5):
            response = bot.post(api.update(intruder, BRIEFING), secret=secret)
            assert response.status_code == 403, secret
            assert SECRET not in response.text
        # The server still answers the real Telegram.
        assert bot.post(api.update(user, "/start")).status_code == 200
        wait_reply(api, user.id, "Hello")
    assert replies(api, intruder.id) == []
    assert engine.calls == 0
    assert len(stored_updates(tmp_path)) == 1


def test_malformed_bodies_are_400_and_the_next_update_still_works(
    api: WebhookFakeApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    user = FakeUser(304)
    bodies = [
        b"{not json",
        b"",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'"a string"',
        b'{"update_id": "12"}',
        b'{"update_id": true}',
        b'{"message": {"text": "no update id"}}',
        b'{"update_id": 5, "message": {"text": "no chat, no date"}}',
        # 200,000 levels: json.loads gives up with RecursionError (which once made a 500).
        b"[" * 200_000 + b"]" * 200_000,
        b'{"update_id": 6, "message": ' + b'{"a": ' * 120_000 + b"1" + b"}" * 120_001,
        # Beyond SQLite's 64-bit integers (once a 500 with an OverflowError).
        b'{"update_id": %d}' % 2**96,
        b'{"update_id": -1}',
    ]
    # The default limit (1 MB): room for the deep bodies.
    settings = webhook_settings(api, tmp_path, BRIEFING_DIGEST_WEBHOOK__MAX_BODY_BYTES="1000000")
    with WebhookBot(settings, api, CountingEngine(warm_pipeline)) as bot:
        for body in bodies:
            response = bot.post(body, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, body
        assert bot.post(api.update(user, BRIEFING)).status_code == 200
        wait_digests(api, user.id)
    assert list(stored_updates(tmp_path).values()) == ["done"]


def test_oversize_bodies_are_413_by_length_and_while_streaming(
    api: WebhookFakeApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    user = FakeUser(305)
    settings = webhook_settings(api, tmp_path)
    limit = settings.webhook.max_body_bytes
    with WebhookBot(settings, api, CountingEngine(warm_pipeline)) as bot:
        big = api.update(user, "/start")
        big["padding"] = "x" * limit
        response = bot.post(json.dumps(big).encode())
        assert response.status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked
            payload = json.dumps(big).encode()
            for i in range(0, len(payload), 4096):
                yield payload[i : i + 4096]

        assert bot.post(chunks()).status_code == 413
        # Just under the limit is fine.
        fits = api.update(user, "/start")
        fits["padding"] = ""
        fits["padding"] = "x" * (limit - len(json.dumps(fits).encode()))
        assert len(json.dumps(fits).encode()) == limit
        assert bot.post(fits).status_code == 200
        wait_reply(api, user.id, "Hello")
    assert len(stored_updates(tmp_path)) == 1


def test_wrong_method_is_405_and_wrong_path_404(
    api: WebhookFakeApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    with WebhookBot(webhook_settings(api, tmp_path), api, CountingEngine(warm_pipeline)) as bot:
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            response = bot.client.request(
                method, bot.url, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            )
            assert response.status_code == 405, method
            assert response.headers["Allow"] == "POST"
        for path in ("/", "/telegram/", "/telegramx", "/other", "/bot/telegram"):
            response = bot.client.post(bot.base + path, json=api.update(FakeUser(306), "/start"))
            assert response.status_code == 404, path
        assert bot.client.get(bot.base + "/nothing").status_code == 404
        # Still serving.
        assert bot.post(api.update(FakeUser(306), "/start")).status_code == 200
        wait_reply(api, 306, "Hello")


def test_the_same_update_twice_makes_one_digest(
    api: WebhookFakeApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    user = FakeUser(307)
    with WebhookBot(webhook_settings(api, tmp_path), api, engine) as bot:
        update = api.update(user, BRIEFING)
        # Telegram redelivers: at once, concurrently, and again after the digest.
        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(bot.post(update).status_code))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [200, 200, 200]
        wait_digests(api, user.id)
        assert bot.post(update).status_code == 200
        # The fourth copy is counted as a duplicate once handled: wait for that state.
        metrics = api.wait_for(
            lambda: (t := bot.client.get(bot.base + "/metrics").text)
            and "briefing_digest_updates_duplicate_total 3" in t
            and t,
            what="three duplicates counted",
        )
    assert engine.calls == 1
    assert len([m for m in api.bot_messages(user.id) if "Got it" in (m.text or "")]) == 0
    assert len(api.calls_of("sendMessage", user.id)) == 1  # one status message, then edits
    assert "briefing_digest_updates_duplicate_total 3" in metrics
    assert "briefing_digest_updates_received_total 1" in metrics


def test_a_paste_in_two_updates_makes_one_digest(
    api: WebhookFakeApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    user = FakeUser(312)
    paragraphs = BRIEFING.split("\n\n")
    half = len(paragraphs) // 2
    parts = ["\n\n".join(paragraphs[:half]), "\n\n".join(paragraphs[half:])]
    with WebhookBot(webhook_settings(api, tmp_path), api, engine) as bot:
        first, second = (api.update(user, part) for part in parts)
        assert bot.post(first).status_code == 200
        assert bot.post(second).status_code == 200
        assert bot.post(first).status_code == 200  # redelivered while being gathered
        wait_digests(api, user.id)
    assert engine.calls == 1
    assert engine.docs[0].text.count(parts[0][:40]) == 1
    assert engine.docs[0].text.count(parts[1][:40]) == 1
    assert stored_updates(tmp_path) == {first["update_id"]: "done", second["update_id"]: "done"}


_SAMPLE = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$')


def test_health_ready_and_metrics_endpoints(
    api: WebhookFakeApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    user = FakeUser(308)
    with WebhookBot(webhook_settings(api, tmp_path), api, CountingEngine(warm_pipeline)) as bot:
        health = bot.client.get(bot.base + "/healthz")
        assert (health.status_code, health.text) == (200, "ok\n")
        ready = bot.client.get(bot.base + "/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True, "reasons": []}
        assert bot.post(api.update(user, BRIEFING)).status_code == 200
        assert bot.post(b"{", secret="no").status_code == 403
        wait_digests(api, user.id)
        # Counted once the worker has recorded the end of the job.
        api.wait_for(
            lambda: 'outcome="done"} 1' in bot.client.get(bot.base + "/metrics").text,
            what="the finished job in /metrics",
        )
        response = bot.client.get(bot.base + "/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.text
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or _SAMPLE.match(line), line
    assert "briefing_digest_updates_received_total 1" in text
    assert 'briefing_digest_webhook_requests_total{code="200"} 1' in text
    assert 'briefing_digest_webhook_requests_total{code="403"} 1' in text
    assert 'briefing_digest_jobs_finished_total{outcome="done"} 1' in text
    assert "briefing_digest_jobs_submitted_total 1" in text
    assert 'briefing_digest_jobs{state="queued"} 0' in text
    assert 'briefing_digest_jobs{state="running"} 0' in text
    assert "briefing_digest_job_latency_seconds_count 1" in text
    assert 'briefing_digest_job_latency_seconds_bucket{le="+Inf"} 1' in text
    assert "briefing_digest_webhook_ack_seconds_count 1" in text
    assert "briefing_digest_workers_alive 2" in text


def test_readyz_reports_a_stuck_queue(
    api: WebhookFakeApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    gate = threading.Event()
    engine = CountingEngine(warm_pipeline, gate=gate)
    settings = webhook_settings(
        api,
        tmp_path,
        BRIEFING_DIGEST_TELEGRAM__WORKERS="1",
        BRIEFING_DIGEST_WEBHOOK__STUCK_AFTER_S="0.5",
    )
    try:
        with WebhookBot(settings, api, engine) as bot:
            assert bot.post(api.update(FakeUser(309), BRIEFING)).status_code == 200
            assert bot.post(api.update(FakeUser(310), BRIEFING)).status_code == 200
            api.wait_for(lambda: engine.calls == 1, what="the first job running")
            # Ready until the threshold passes, then 503: wait for that state.
            stuck = api.wait_for(
                lambda: (r := bot.client.get(bot.base + "/readyz")).status_code == 503 and r,
                what="/readyz to report the stuck queue",
            )
            assert "stuck" in " ".join(stuck.json()["reasons"])
            gate.set()
            wait_digests(api, 309)
            wait_digests(api, 310)
            assert bot.client.get(bot.base + "/readyz").status_code == 200
    finally:
        gate.set()


def test_the_server_refuses_while_stopping_and_health_stays_simple(
    api: WebhookFakeApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    with WebhookBot(webhook_settings(api, tmp_path), api, CountingEngine(warm_pipeline)) as bot:
        bot.app.bot_data["services"].webhook.accepting = False
        update = api.update(FakeUser(311), "/start")
        assert bot.post(update).status_code == 503
        assert bot.client.get(bot.base + "/readyz").status_code == 503
        bot.app.bot_data["services"].webhook.accepting = True
        assert bot.post(update).status_code == 200
        wait_reply(api, 311, "Hello")
    with pytest.raises(httpx.ConnectError):
        httpx.get(bot.base + "/healthz", timeout=2)
