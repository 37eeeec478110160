"""Every Bot API call: flood control (PTB's ``AIORateLimiter``) and retries with backoff.

Telegram answers 502 or drops connections now and then, and asks bots to slow down with
``RetryAfter``. A message lost to one such failure could be a briefing the user never hears
about again, so every call is tried again: after ``RetryAfter``'s wait, or after a pause
that doubles (``backoff_s``, 2×, 4×… at most ``MAX_PAUSE_S``) for network errors and 5xx
answers, until ``budget_s`` seconds have passed. Refusals (400 Bad Request, 403 Forbidden,
an invalid token) are final and raised at once.

A call that timed out may have reached Telegram: trying it again can show a message twice.
That is the lesser evil next to a briefing acknowledged and then never answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)

# The longest pause between two tries of one call.
MAX_PAUSE_S = 15.0
# Not retried here: long polling has its own loop in PTB's updater; start-up calls have theirs
# (bot/app.py); the webhook registration must fail loudly; "typing…" is a courtesy renewed
# every few seconds anyway.
NOT_RETRIED = frozenset(
    {"getUpdates", "getMe", "setWebhook", "deleteWebhook", "close", "logOut", "sendChatAction"}
)

ApiResult = bool | dict[str, Any] | list[dict[str, Any]]


def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that the type becomes timedelta; both are handled here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = exc.retry_after
    return float(wait if isinstance(wait, int | float) else wait.total_seconds())


def is_transient(exc: BaseException) -> bool:
    """Worth another try: network trouble and 5xx answers, not refusals."""
    return isinstance(exc, RetryAfter) or (
        isinstance(exc, NetworkError) and not isinstance(exc, BadRequest)
    )


class RetryingRateLimiter(AIORateLimiter):
    """``AIORateLimiter`` (Telegram's flood limits) that also retries transient failures."""

    def __init__(
        self,
        *,
        budget_s: float,
        backoff_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # max_retries=0: RetryAfter is retried below, within the same time budget.
        super().__init__(max_retries=0)
        self._budget = budget_s
        self._backoff = backoff_s
        self._clock = clock

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, ApiResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> ApiResult:
        if endpoint in NOT_RETRIED:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        deadline = self._clock() + self._budget
        pause = self._backoff
        tries = 0
        while True:
            tries += 1
            try:
                result = await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except Exception as exc:
                if not is_transient(exc):
                    raise
                wait = retry_after_seconds(exc) + 0.1 if isinstance(exc, RetryAfter) else pause
                if self._clock() + wait > deadline:
                    log.warning("%s failed %d time(s), giving up: %s", endpoint, tries, exc)
                    raise
                log.info("%s failed (%s); trying again in %.1f s", endpoint, exc, wait)
                await asyncio.sleep(wait)
                pause = min(pause * 2, MAX_PAUSE_S)
                continue
            if tries > 1:
                log.info("%s went through at try %d", endpoint, tries)
            return result
