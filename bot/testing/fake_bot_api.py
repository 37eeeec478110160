"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests of the bot.

It speaks the Bot API's HTTP protocol (form-encoded and multipart requests, JSON answers)
closely enough for python-telegram-bot's real HTTP client: getMe, getUpdates (long polling
on updates the test injects), sendMessage, editMessageText, editMessageReplyMarkup,
deleteMessage, sendChatAction, answerCallbackQuery, sendDocument, getFile and file
downloads, set/get/deleteMyCommands, deleteWebhook. Every call is recorded.

Like Telegram, it refuses what Telegram would refuse: HTML that Telegram cannot parse,
texts over 4,096 characters, edits that change nothing, unknown chats and messages, a wrong
token. A bug of that kind in the bot therefore fails the tests as it would fail in use.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

T = TypeVar("T")
TEXT_LIMIT = 4096
FILE_DOWNLOAD_LIMIT = 20_000_000
LONG_POLL_CAP_S = 2.0
# What a "429" fault asks the bot to wait.
RETRY_AFTER_S = 2


class HtmlError(ValueError):
    pass


_ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>"
)
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def parse_telegram_html(text: str) -> str:
    """The plain text Telegram would show for ``text`` in parse_mode HTML; HtmlError if invalid.

    Strict on purpose: only Telegram's tags, properly nested, and ``<``, ``>`` and ``&`` only
    as tags or the entities Telegram supports.
    """
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "<":
            match = _TAG.match(text, pos)
            if match is None:
                raise HtmlError(f"Can't parse entities: unexpected '<' at offset {pos}")
            closing, name = match.group(1), match.group(2).lower()
            if name not in _ALLOWED_TAGS:
                raise HtmlError(
                    f'Can\'t parse entities: unsupported start tag "{name}" at offset {pos}'
                )
            if closing:
                if not stack or stack[-1] != name:
                    raise HtmlError(f"Can't parse entities: unmatched end tag at offset {pos}")
                stack.pop()
            else:
                attrs = match.group(3)
                if name == "a" and "href" not in attrs:
                    raise HtmlError("Can't parse entities: <a> without href")
                if name == "span" and "tg-spoiler" not in attrs:
                    raise HtmlError("Can't parse entities: span without class tg-spoiler")
                stack.append(name)
            pos = match.end()
        elif ch == "&":
            match = _ENTITY.match(text, pos)
            if match is None:
                raise HtmlError(f"Can't parse entities: unsupported entity at offset {pos}")
            value = match.group(1)
            if value.startswith("#x"):
                out.append(chr(int(value[2:], 16)))
            elif value.startswith("#"):
                out.append(chr(int(value[1:])))
            else:
                out.append(_NAMED[value])
            pos = match.end()
        elif ch == ">":
            raise HtmlError(f"Can't parse entities: unexpected '>' at offset {pos}")
        else:
            out.append(ch)
            pos += 1
    if stack:
        raise HtmlError(
            f"Can't parse entities: can't find end tag corresponding to start tag {stack[-1]}"
        )
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(frozen=True)
class FakeUser:
    id: int
    first_name: str = "Reader"
    language_code: str | None = "en"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class Call:
    method: str
    params: dict[str, str]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    def json(self, key: str) -> Any:
        return json.loads(self.params[key]) if key in self.params else None

    @property
    def chat_id(self) -> int | None:
        return int(self.params["chat_id"]) if "chat_id" in self.params else None


@dataclass
class Fault:
    """Telegram misbehaving for one method (or all: ``method=None``): answering 502 or
    closing the connection without an answer, until a time or for a number of calls."""

    method: str | None
    kind: str  # "502", "429" (flood control, retry after RETRY_AFTER_S) or "drop"
    until: float | None = None  # time.monotonic()
    times: int | None = None

    def applies(self, method: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.until is not None:
            return time.monotonic() < self.until
        return self.times is not None and self.times > 0


@dataclass
class StoredMessage:
    chat_id: int
    message_id: int
    data: dict[str, Any]
    from_bot: bool
    text: str | None = None  # raw text as sent (HTML source for parse_mode HTML)
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    deleted: bool = False
    edits: int = 0

    def callback_data(self) -> list[str]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button.get("callback_data", "") for row in rows for button in row]


class FakeBotApi:
    def __init__(
        self, token: str = "123456:" + "A" * 35, username: str = "digest_test_bot"
    ) -> None:
        self.token = token
        self.bot_user = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Digest",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.username = username
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], StoredMessage] = {}
        self.commands: dict[str, list[dict[str, str]]] = {}
        self.files: dict[str, tuple[str, bytes, int]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._cond = threading.Condition()
        self._stopping = False
        self.faults: list[Fault] = []
        # Calls refused by a fault: (method, kind), and when (time.monotonic()).
        self.failed: list[tuple[str, str]] = []
        self.failed_at: list[float] = []
        # Replaces getMe's answer (a malformed one, for instance).
        self.get_me_result: Any = None
        # Channels the bot knows: id -> (username, {admin user id: may post messages}).
        self.channels: dict[int, tuple[str, dict[int, bool]]] = {}
        # Admins of groups, by group id (getChatMember answers "member" for anyone else).
        self.group_admins: dict[int, set[int]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> FakeBotApi:
        api = self

        class Handler(_Handler):
            fake = api

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="fake-bot-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- what users do ---------------------------------------------------------------------
    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _push(self, update: dict[str, Any]) -> None:
        with self._cond:
            update["update_id"] = next(self._update_ids)
            self._updates.append(update)
            self._cond.notify_all()

    def user_message(
        self,
        user: FakeUser,
        text: str | None = None,
        *,
        chat: dict[str, Any] | None = None,
        reply_to: StoredMessage | None = None,
        document: dict[str, Any] | None = None,
        caption: str | None = None,
        sticker: bool = False,
        forwarded_from: FakeUser | None = None,
        push: bool = True,
    ) -> StoredMessage:
        """A message from ``user`` (in their private chat unless ``chat`` is given)."""
        chat = chat or {"id": user.id, "type": "private", "first_name": user.first_name}
        with self._cond:
            message_id = self._next_message_id(chat["id"])
            data: dict[str, Any] = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": chat,
                "from": user.to_dict(),
            }
            if text is not None:
                data["text"] = text
                entities = _entities(text, self.username)
                if entities:
                    data["entities"] = entities
            if caption is not None:
                data["caption"] = caption
                entities = _entities(caption, self.username)
                if entities:
                    data["caption_entities"] = entities
            if document is not None:
                data["document"] = document
            if sticker:
                data["sticker"] = {
                    "file_id": "sticker-1",
                    "file_unique_id": "s1",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                }
            if reply_to is not None:
                data["reply_to_message"] = dict(reply_to.data)
            if forwarded_from is not None:
                data["forward_origin"] = {
                    "type": "user",
                    "date": int(time.time()) - 3600,
                    "sender_user": forwarded_from.to_dict(),
                }
            stored = StoredMessage(chat["id"], message_id, data, from_bot=False, text=text)
            self.messages[(chat["id"], message_id)] = stored
        if push:
            self._push({"message": data})
        return stored

    def add_file(self, name: str, content: bytes, size: int | None = None) -> dict[str, Any]:
        """Register a file as if uploaded by a user; returns the Document object for a message."""
        with self._cond:
            number = next(self._file_ids)
            file_id = f"file-{number}"
            self.files[file_id] = (f"documents/file_{number}_{name}", content, size or len(content))
        return {
            "file_id": file_id,
            "file_unique_id": f"u{number}",
            "file_name": name,
            "mime_type": "application/octet-stream",
            "file_size": size or len(content),
        }

    def user_document(
        self,
        user: FakeUser,
        name: str,
        content: bytes,
        *,
        size: int | None = None,
        chat: dict[str, Any] | None = None,
        caption: str | None = None,
    ) -> StoredMessage:
        return self.user_message(
            user, chat=chat, document=self.add_file(name, content, size), caption=caption
        )

    def press(self, user: FakeUser, message: StoredMessage, data: str) -> str:
        """The user presses an inline button with ``data`` under ``message``."""
        with self._cond:
            query_id = f"cq-{next(self._callback_ids)}"
            current = self._message_json(message)
        self._push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user.to_dict(),
                    "message": current,
                    "chat_instance": f"ci-{message.chat_id}",
                    "data": data,
                }
            }
        )
        return query_id

    # -- what the bot did --------------------------------------------------------------------
    def calls_of(self, method: str, chat_id: int | None = None) -> list[Call]:
        with self._cond:
            return [
                c
                for c in self.calls
                if c.method == method and (chat_id is None or c.chat_id == chat_id)
            ]

    def bot_messages(self, chat_id: int) -> list[StoredMessage]:
        """The bot's messages in a chat that are still there, in order."""
        with self._cond:
            return sorted(
                (
                    m
                    for m in self.messages.values()
                    if m.from_bot and m.chat_id == chat_id and not m.deleted
                ),
                key=lambda m: m.message_id,
            )

    def digest_messages(self, chat_id: int) -> list[StoredMessage]:
        return [m for m in self.bot_messages(chat_id) if m.parse_mode == "HTML"]

    def wait_for(self, probe: Callable[[], T], timeout: float = 20.0, what: str = "condition") -> T:
        """Wait until ``probe()`` is truthy (re-checked whenever the bot calls the API)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = probe()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out waiting for {what}; last calls: {self._tail()}"
                    )
                self._cond.wait(min(left, 0.2))

    def _tail(self) -> list[str]:
        return [
            f"{c.method}({ {k: v[:60] for k, v in c.params.items()} })" for c in self.calls[-8:]
        ]

    def fail(
        self,
        method: str | None,
        kind: str = "502",
        *,
        seconds: float | None = None,
        times: int | None = None,
    ) -> None:
        """From now on, ``method`` (None: every method but getUpdates) fails: answers 502 or
        429, or drops the connection, for ``seconds`` or for the next ``times`` calls."""
        until = None if seconds is None else time.monotonic() + seconds
        with self._cond:
            self.faults.append(Fault(method, kind, until, times))

    def fault_for(self, method: str) -> str | None:
        """The fault to apply to this call now, if any (counted)."""
        if method == "getUpdates":
            return None
        with self._cond:
            for fault in self.faults:
                if fault.applies(method):
                    if fault.times is not None:
                        fault.times -= 1
                    self.failed.append((method, fault.kind))
                    self.failed_at.append(time.monotonic())
                    self._cond.notify_all()
                    return fault.kind
        return None

    def pending_updates(self) -> int:
        with self._cond:
            return len(self._updates)

    # -- the API -------------------------------------------------------------------------------
    def handle(
        self, method: str, params: dict[str, str], files: dict[str, tuple[str, bytes]]
    ) -> Any:
        call = Call(method, params, files)
        if method == "getUpdates":
            return self._get_updates(call)
        with self._cond:
            self.calls.append(call)
            try:
                handler = getattr(self, f"_api_{method}", None)
                if handler is None:
                    raise ApiError(404, "Not Found")
                return handler(call)
            finally:
                self._cond.notify_all()

    def _get_updates(self, call: Call) -> list[dict[str, Any]]:
        offset = int(call.params.get("offset", "0") or 0)
        limit = int(call.params.get("limit", "100") or 100)
        timeout = min(float(call.params.get("timeout", "0") or 0), LONG_POLL_CAP_S)
        deadline = time.monotonic() + timeout
        with self._cond:
            self.calls.append(call)
            # An offset confirms every update before it: Telegram forgets them.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            self._cond.notify_all()
            return self._updates[:limit]

    def add_channel(self, chat_id: int, username: str, admins: dict[int, bool]) -> None:
        """A channel with these admins (user id -> may post); the bot is one if listed."""
        with self._cond:
            self.channels[chat_id] = (username, dict(admins))

    def _channel_of(self, ref: str) -> int:
        for chat_id, (username, _) in self.channels.items():
            if ref in (f"@{username}", str(chat_id)):
                return chat_id
        raise ApiError(400, "Bad Request: chat not found")

    def _api_getChat(self, call: Call) -> dict[str, Any]:
        ref = call.params.get("chat_id", "")
        if ref.lstrip("-").isdigit() and int(ref) not in self.channels:
            return self._chat(call)
        chat_id = self._channel_of(ref)
        username = self.channels[chat_id][0]
        return {
            "id": chat_id,
            "type": "channel",
            "title": username.title(),
            "username": username,
            "accent_color_id": 0,
            "max_reaction_count": 11,
        }

    def _api_getChatAdministrators(self, call: Call) -> list[dict[str, Any]]:
        chat_id = self._channel_of(call.params.get("chat_id", ""))
        _, admins = self.channels[chat_id]
        if self.bot_user["id"] not in admins:
            raise ApiError(400, "Bad Request: member list is inaccessible")
        members = []
        for user_id, may_post in admins.items():
            user = (
                self.bot_user
                if user_id == self.bot_user["id"]
                else {"id": user_id, "is_bot": False, "first_name": f"Admin {user_id}"}
            )
            members.append(
                {
                    "status": "administrator",
                    "user": user,
                    **_ADMIN_RIGHTS,
                    "can_post_messages": may_post,
                }
            )
        return members

    def _api_getChatMember(self, call: Call) -> dict[str, Any]:
        chat_id, user_id = int(call.params["chat_id"]), int(call.params["user_id"])
        user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        if user_id in self.group_admins.get(chat_id, set()):
            return {"status": "administrator", "user": user, **_ADMIN_RIGHTS}
        return {"status": "member", "user": user}

    def _chat(self, call: Call) -> dict[str, Any]:
        chat_id = int(call.params["chat_id"])
        if chat_id in self.channels:
            username = self.channels[chat_id][0]
            return {
                "id": chat_id,
                "type": "channel",
                "title": username.title(),
                "username": username,
            }
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Reader"}
        return {"id": chat_id, "type": "supergroup", "title": "Desk"}

    def _message_json(self, message: StoredMessage) -> dict[str, Any]:
        data = dict(message.data)
        if message.from_bot:
            if message.text is not None:
                data["text"] = (
                    parse_telegram_html(message.text)
                    if message.parse_mode == "HTML"
                    else message.text
                )
            if message.reply_markup:
                data["reply_markup"] = message.reply_markup
            else:
                data.pop("reply_markup", None)
        return data

    def _check_text(self, call: Call) -> tuple[str, str | None]:
        text = call.params.get("text", "")
        parse_mode = call.params.get("parse_mode")
        plain = text
        if parse_mode == "HTML":
            try:
                plain = parse_telegram_html(text)
            except HtmlError as exc:
                raise ApiError(400, f"Bad Request: {exc}") from None
        elif parse_mode:
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        return text, parse_mode

    def _stored(self, call: Call) -> StoredMessage:
        key = (int(call.params["chat_id"]), int(call.params["message_id"]))
        message = self.messages.get(key)
        if message is None or message.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not message.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _api_getMe(self, call: Call) -> Any:
        return self.bot_user if self.get_me_result is None else self.get_me_result

    def _api_deleteWebhook(self, call: Call) -> bool:
        return True

    def _api_setMyCommands(self, call: Call) -> bool:
        commands = call.json("commands")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise ApiError(400, "Bad Request: command description is invalid")
        self.commands[call.params.get("language_code", "")] = commands
        return True

    def _api_getMyCommands(self, call: Call) -> list[dict[str, str]]:
        return self.commands.get(call.params.get("language_code", ""), [])

    def _api_deleteMyCommands(self, call: Call) -> bool:
        self.commands.pop(call.params.get("language_code", ""), None)
        return True

    def _api_sendChatAction(self, call: Call) -> bool:
        return True

    def _api_answerCallbackQuery(self, call: Call) -> bool:
        return True

    def _api_sendMessage(self, call: Call) -> dict[str, Any]:
        text, parse_mode = self._check_text(call)
        chat = self._chat(call)
        message_id = self._next_message_id(chat["id"])
        data: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
        }
        reply = call.json("reply_parameters")
        if reply and (chat["id"], reply["message_id"]) in self.messages:
            data["reply_to_message"] = self.messages[(chat["id"], reply["message_id"])].data
        message = StoredMessage(
            chat["id"], message_id, data, True, text, parse_mode, call.json("reply_markup")
        )
        self.messages[(chat["id"], message_id)] = message
        return self._message_json(message)

    def _api_editMessageText(self, call: Call) -> dict[str, Any]:
        message = self._stored(call)
        text, parse_mode = self._check_text(call)
        markup = call.json("reply_markup")
        if (text, parse_mode, markup) == (message.text, message.parse_mode, message.reply_markup):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content "
                "and reply markup are exactly the same as a current content and reply "
                "markup of the message",
            )
        message.text, message.parse_mode, message.reply_markup = text, parse_mode, markup
        message.edits += 1
        return self._message_json(message)

    def _api_editMessageReplyMarkup(self, call: Call) -> dict[str, Any]:
        message = self._stored(call)
        markup = call.json("reply_markup")
        if markup == message.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified")
        message.reply_markup = markup
        message.edits += 1
        return self._message_json(message)

    def _api_deleteMessage(self, call: Call) -> bool:
        self._stored(call).deleted = True
        return True

    def _api_sendDocument(self, call: Call) -> dict[str, Any]:
        if "document" not in call.files:
            raise ApiError(400, "Bad Request: there is no document in the request")
        name, content = call.files["document"]
        chat = self._chat(call)
        document = self.add_file(name, content)
        message_id = self._next_message_id(chat["id"])
        data = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            "document": document,
        }
        if "caption" in call.params:
            data["caption"] = call.params["caption"]
        self.messages[(chat["id"], message_id)] = StoredMessage(chat["id"], message_id, data, True)
        return data

    def _api_getFile(self, call: Call) -> dict[str, Any]:
        file_id = call.params.get("file_id", "")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, _, size = self.files[file_id]
        if size > FILE_DOWNLOAD_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": file_id, "file_size": size, "file_path": path}

    def download(self, path: str) -> bytes | None:
        with self._cond:
            self.calls.append(Call("download", {"path": path}))
            self._cond.notify_all()
            for file_path, content, _ in self.files.values():
                if file_path == path:
                    return content
        return None


def _entities(text: str, username: str) -> list[dict[str, Any]]:
    """bot_command and mention entities, with offsets in UTF-16 units as Telegram sends them."""
    entities = []
    for match in re.finditer(r"(?<!\S)(/[a-z_]+(?:@\w+)?|@\w+)", text):
        kind = "bot_command" if match.group(1).startswith("/") else "mention"
        if kind == "bot_command" and match.start() != 0:
            continue
        offset = utf16_len(text[: match.start()])
        entities.append({"type": kind, "offset": offset, "length": utf16_len(match.group(1))})
    return entities


# The rights a ChatMemberAdministrator must carry (all off: tests set what they check).
_ADMIN_RIGHTS = dict.fromkeys(
    (
        "can_be_edited",
        "is_anonymous",
        "can_manage_chat",
        "can_delete_messages",
        "can_manage_video_chats",
        "can_restrict_members",
        "can_promote_members",
        "can_change_info",
        "can_invite_users",
        "can_post_stories",
        "can_edit_stories",
        "can_delete_stories",
        "can_edit_messages",
    ),
    False,
)


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when twenty users' replies go out at once.
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    fake: FakeBotApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path = unquote(urlsplit(self.path).path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fake = self.fake
        file_prefix = f"/file/bot{fake.token}/"
        api_prefix = f"/bot{fake.token}/"
        if path.startswith(file_prefix):
            content = fake.download(path[len(file_prefix) :])
            if content is None:
                self._send(404, b"Not Found", "text/plain")
            else:
                self._send(200, content, "application/octet-stream")
            return
        if not path.startswith(api_prefix):
            self._json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        method = path[len(api_prefix) :]
        fault = fake.fault_for(method)
        if fault == "drop":
            # The connection closes without an answer, as when a proxy or the network fails.
            self.close_connection = True
            return
        if fault == "429":
            # Flood control: Telegram names the seconds to wait.
            self._json(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {RETRY_AFTER_S}",
                    "parameters": {"retry_after": RETRY_AFTER_S},
                },
            )
            return
        if fault is not None:
            self._json(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
            return
        try:
            params, files = _parse_body(
                self.headers.get("Content-Type", ""), body, urlsplit(self.path).query
            )
            result = fake.handle(method, params, files)
        except ApiError as exc:
            self._json(
                exc.code, {"ok": False, "error_code": exc.code, "description": exc.description}
            )
            return
        self._json(200, {"ok": True, "result": result})

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(HTTPStatus(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The bot may give up on a long poll while stopping: then there is nobody to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


def _parse_body(
    content_type: str, body: bytes, query: str
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    files: dict[str, tuple[str, bytes]] = {}
    if content_type.startswith("application/x-www-form-urlencoded"):
        params.update(
            {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        )
    elif content_type.startswith("application/json"):
        params.update(
            {
                k: v if isinstance(v, str) else json.dumps(v)
                for k, v in json.loads(body or b"{}").items()
            }
        )
    elif content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            payload = part.get_payload(decode=True) or b""
            if filename is not None:
                files[name] = (filename, payload)
            else:
                params[name] = payload.decode("utf-8")
    return params, files
