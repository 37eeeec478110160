"""The webhook server: Telegram posts updates here (through a TLS reverse proxy).

A small tornado application on the bot's own event loop (tornado comes with
python-telegram-bot's ``webhooks`` extra). python-telegram-bot's built-in webhook server is
not used: it answers 200 before anything is stored, has no body limit of its own and no
health or metrics endpoints.

``POST {path}``, in this order:

* 403 without the right ``X-Telegram-Bot-Api-Secret-Token`` (compared in constant time);
  nothing of the request is read or kept;
* 413 when ``Content-Length`` is over ``max_body_bytes``, or the body grows over it while
  streaming (chunked requests);
* 400 for a body that is not JSON, or not an update (an object with an integer
  ``update_id``);
* 200 once the update is **stored** (SQLite, WAL, synchronous=FULL); only then is it handed
  to python-telegram-bot's update queue. The same ``update_id`` again: 200, not handled again.
* 503 while stopping (Telegram tries again later).

Any other method on the path: 405; any other path: 404. ``GET /healthz`` answers 200 while
the process serves; ``GET /readyz`` 200 when the bot is initialised, the webhook registered
and the job queue not stuck (else 503 and the reasons, as JSON); ``GET /metrics`` the
Prometheus text format (bot/metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import resource
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web
from telegram import Update

from bot.metrics import CONTENT_TYPE, Metrics
from bot.services import BotApp
from bot.updates import UpdateLedger

log = logging.getLogger(__name__)

SECRET_ENV = "TELEGRAM_WEBHOOK_SECRET"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
RESERVED_PATHS = ("/healthz", "/readyz", "/metrics")
# In-flight requests get this long to finish when the server stops.
DRAIN_S = 5.0
# update_id is a signed 64-bit integer in SQLite (Telegram's are far smaller).
MAX_UPDATE_ID = 2**63 - 1
# Open files kept for everything but webhook connections: SQLite files and their journals,
# the Bot API client's connections, logs, worker processes' pipes.
RESERVED_FDS = 128
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 25\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    b"503 too many connections\n"
)


def connection_cap(configured: int, open_file_limit: int | None = None) -> int:
    """Open connections at most: the configured number, kept ``RESERVED_FDS`` below the
    process's open-file limit so that the files the bot itself needs can always be opened."""
    if open_file_limit is None:
        open_file_limit, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if open_file_limit == resource.RLIM_INFINITY or open_file_limit <= 0:
        return configured
    return max(1, min(configured, open_file_limit - RESERVED_FDS))


class CappedHTTPServer(tornado.httpserver.HTTPServer):
    """Past ``max_connections`` open connections, a new one gets 503 and is closed at once
    (rather than waiting until the process runs out of file descriptors)."""

    def initialize(  # type: ignore[override]
        self, *args: Any, max_connections: int, on_refused: Callable[[], None], **kwargs: Any
    ) -> None:
        super().initialize(*args, **kwargs)
        self.max_connections = max_connections
        self._on_refused = on_refused

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple[Any, ...]) -> None:
        if len(self._connections) >= self.max_connections:
            self._on_refused()
            # The answer fits the socket buffer: write() sends it at once. Closing right away
            # keeps the refused connection from holding a file descriptor any longer.
            with contextlib.suppress(tornado.iostream.StreamClosedError):
                stream.write(_REFUSAL)
            stream.close()
            return
        super().handle_stream(stream, address)


class WebhookSecretError(ValueError):
    """The webhook secret is missing or malformed (the message never contains it)."""


def secret_from_env(environ: Mapping[str, str]) -> str:
    """The webhook secret from the environment; WebhookSecretError if missing or malformed."""
    secret = environ.get(SECRET_ENV, "").strip()
    if not secret:
        raise WebhookSecretError(
            f"{SECRET_ENV} is not set (webhook mode needs it: 1-256 characters A-Z a-z 0-9 _ -)"
        )
    if not SECRET_PATTERN.match(secret):
        raise WebhookSecretError(
            f"{SECRET_ENV} is malformed (1-256 characters, only A-Z a-z 0-9 _ -)"
        )
    return secret


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reasons: tuple[str, ...] = ()


class WebhookServer:
    """Serves the webhook path and the health, readiness and metrics endpoints."""

    def __init__(
        self,
        app: BotApp,
        *,
        ledger: UpdateLedger,
        metrics: Metrics,
        secret: str,
        path: str,
        max_body_bytes: int,
        readiness: Callable[[], Readiness],
        header_timeout_s: float = 10.0,
        body_timeout_s: float = 10.0,
        max_open_connections: int = 512,
    ) -> None:
        self.app = app
        self.ledger = ledger
        self.metrics = metrics
        self.secret = secret.encode("ascii")
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.readiness = readiness
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.max_open_connections = connection_cap(max_open_connections)
        self.accepting = False
        # Set once setWebhook succeeded (for /readyz).
        self.registered = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._server: tornado.httpserver.HTTPServer | None = None
        self.port: int | None = None

    def application(self) -> tornado.web.Application:
        state = {"server": self}
        return tornado.web.Application(
            [
                (re.escape(self.path), UpdateHandler, state),
                (r"/healthz", HealthHandler, state),
                (r"/readyz", ReadyHandler, state),
                (r"/metrics", MetricsHandler, state),
            ],
            default_handler_class=NotFoundHandler,
            default_handler_args=state,
            # Each request is logged at DEBUG (bot/webhook.py counts them for /metrics).
            log_function=_log_request,
            compress_response=False,
        )

    async def start(self, listen: str, port: int) -> int:
        """Listen; returns the port (useful with port 0)."""
        self._server = CappedHTTPServer(
            self.application(),
            # For other paths: tornado answers 400 to a longer body. The webhook path lifts
            # this for its own requests and applies the limit itself (413, while streaming).
            max_body_size=self.max_body_bytes,
            # Tornado uses this both for idle keep-alive connections and as the time a
            # connection has to send its request headers: short, so that slow-header
            # connections cannot pile up.
            idle_connection_timeout=self.header_timeout_s,
            body_timeout=self.body_timeout_s,
            decompress_request=False,
            xheaders=True,
            max_connections=self.max_open_connections,
            on_refused=self.metrics.connection_refused,
        )
        sockets = tornado.netutil.bind_sockets(port, address=listen, backlog=1024)
        self._server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        self.accepting = True
        log.info(
            "webhook server listening on %s:%s (at most %d connections)",
            listen,
            self.port,
            self.max_open_connections,
        )
        return self.port

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (they store their updates), close."""
        self.accepting = False
        if self._server is None:
            return
        self._server.stop()
        try:
            await asyncio.wait_for(self._idle.wait(), DRAIN_S)
        except TimeoutError:
            log.warning("%d webhook request(s) cut off at shutdown", self.in_flight)
        await self._server.close_all_connections()
        self._server = None
        log.info("webhook server stopped")

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def request_ended(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    def secret_matches(self, given: str | None) -> bool:
        if given is None:
            return False
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.secret)


def _log_request(handler: tornado.web.RequestHandler) -> None:
    # Method, path and status only: never headers (the secret is one).
    request = handler.request
    log.debug(
        "%s %s -> %d (%.1f ms)",
        request.method,
        request.path,
        handler.get_status(),
        1000.0 * request.request_time(),
    )


class _Base(tornado.web.RequestHandler):
    server: WebhookServer

    def initialize(self, server: WebhookServer) -> None:  # type: ignore[override]
        self.server = server

    def set_default_headers(self) -> None:
        self.clear_header("Server")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Short plain answers: no tracebacks, no HTML.
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code} {self._reason}\n")

    def answer(
        self, status: int, body: str = "", content_type: str = "text/plain", *, close: bool = False
    ) -> None:
        self.set_status(status)
        self.set_header("Content-Type", f"{content_type}; charset=utf-8")
        if close:
            # Answered before the body was read: tornado drops the rest and closes.
            self.set_header("Connection", "close")
        self.finish(body or f"{status} {self._reason}\n")


class NotFoundHandler(_Base):
    def prepare(self) -> None:
        self.server.metrics.webhook_request(404)
        self.answer(404)


@tornado.web.stream_request_body
class UpdateHandler(_Base):
    SUPPORTED_METHODS = ("POST",)  # anything else: 405 before prepare()

    def initialize(self, server: WebhookServer) -> None:  # type: ignore[override]
        super().initialize(server)
        self._chunks: list[bytes] = []
        self._size = 0
        self._started = time.monotonic()
        self._counted = False
        # post() runs once the whole body is in; any earlier answer closes the connection.
        self._body_read = False

    def _done(self, status: int, body: str = "", *, close: bool = False) -> None:
        self.server.metrics.webhook_answered(status, time.monotonic() - self._started)
        self.answer(status, body, close=close)

    def prepare(self) -> None:
        self.server.request_started()
        self._counted = True
        # Our limit, checked below and while streaming, replaces tornado's (which answers
        # 400); a body answered early is never read, the connection is closed instead.
        connection = self.request.connection
        if connection is not None and hasattr(connection, "set_max_body_size"):
            connection.set_max_body_size(2**40)
        if not self.server.accepting:
            self._done(503, "503 stopping\n", close=True)
            return
        if not self.server.secret_matches(self.request.headers.get(SECRET_HEADER)):
            # INFO, not WARNING: anyone can send these; /metrics counts them (code="403").
            log.info(
                "webhook request without the right secret token from %s: refused",
                self.request.remote_ip,
            )
            self._done(403, close=True)
            return
        length = self.request.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.server.max_body_bytes:
            self._done(413, close=True)

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self._size += len(chunk)
        if self._size > self.server.max_body_bytes:
            self._chunks.clear()
            self._done(413, close=True)
            return
        self._chunks.append(chunk)

    async def post(self) -> None:
        self._body_read = True
        if self._finished:
            return
        body = b"".join(self._chunks)
        self._chunks.clear()
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._done(400, "400 body is not JSON\n")
            return
        except RecursionError:
            self._done(400, "400 JSON nested too deeply\n")
            return
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            self._done(400, "400 not a Telegram update (no integer update_id)\n")
            return
        if not 0 <= update_id <= MAX_UPDATE_ID:
            self._done(400, "400 update_id out of range\n")
            return
        try:
            update = Update.de_json(data, self.server.app.bot)
        except (Exception, RecursionError) as exc:
            log.warning("update %s is not a valid Update: %s", update_id, exc)
            self._done(400, "400 not a valid Telegram update\n")
            return
        try:
            fresh = await self.server.ledger.store(update_id, body.decode("utf-8"))
        except Exception:
            # Not stored, so not acknowledged: Telegram delivers it again.
            log.exception("could not store update %s", update_id)
            self._done(500)
            return
        if fresh and self.server.app.running:
            await self.server.app.update_queue.put(update)
        elif not fresh:
            log.info("update %s delivered again: already stored", update_id)
            self.server.metrics.update_received(False)
        # Stored but not handed over (the bot is stopping): handled after the restart.
        self._done(200, "")

    def on_finish(self) -> None:
        if self._counted:
            self._counted = False
            self.server.request_ended()

    def on_connection_close(self) -> None:
        self.on_finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # 405 (wrong method) and tornado's own errors are counted here.
        if status_code == 405:
            self.set_header("Allow", "POST")
        if not self._body_read:
            # tornado closes the connection (the body was not read): tell the client.
            self.set_header("Connection", "close")
        self.server.metrics.webhook_request(status_code)
        super().write_error(status_code, **kwargs)


class HealthHandler(_Base):
    SUPPORTED_METHODS = ("GET", "HEAD")

    def get(self) -> None:
        self.answer(200, "ok\n")

    def head(self) -> None:
        self.set_status(200)
        self.finish()


class ReadyHandler(_Base):
    SUPPORTED_METHODS = ("GET", "HEAD")

    def get(self) -> None:
        state = self.server.readiness()
        body = json.dumps({"ready": state.ready, "reasons": list(state.reasons)}) + "\n"
        self.answer(200 if state.ready else 503, body, "application/json")

    def head(self) -> None:
        self.set_status(200 if self.server.readiness().ready else 503)
        self.finish()


class MetricsHandler(_Base):
    SUPPORTED_METHODS = ("GET",)

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(self.server.metrics.render())
