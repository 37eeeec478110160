"""A polling bot serves /metrics too, on [metrics] listen:port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from digest.pipeline import Pipeline
from tests.bot_harness import CountingEngine, RunningBot, bot_settings, wait_digests
from tests.conftest import SAMPLES
from tests.fake_bot_api import FakeBotApi, FakeUser
from tests.webhook_harness import free_port

TOKEN = "123456:" + "B" * 35


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi(token=TOKEN) as fake:
        yield fake


def test_polling_mode_serves_metrics(api: FakeBotApi, pipeline: Pipeline, tmp_path: Path) -> None:
    port = free_port()
    settings = bot_settings(api, tmp_path, BRIEFING_DIGEST_METRICS__PORT=str(port))
    user = FakeUser(9001)
    with RunningBot(settings, api, CountingEngine(pipeline)):
        api.user_message(user, (SAMPLES / "en_briefing.txt").read_text(encoding="utf-8"))
        wait_digests(api, user.id)
        done = 'briefing_digest_jobs_finished_total{outcome="done"} 1.0'

        def scraped() -> str | None:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            return text if done in text else None

        text = api.wait_for(scraped, what="the job counted on /metrics")
    assert "briefing_digest_updates_received_total 1.0" in text
    # Stopped with the bot.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
