"""Showing digests: the first reply, switching language in place, sending files.

A digest may need several messages (Telegram's 4,096-character limit); the keyboard sits
under the last one. Switching language edits those messages in place, sending extra ones or
deleting surplus ones when the other language needs a different number.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.jobs import Job
from bot.keyboards import digest_keyboard
from bot.rendering import RenderedDigest
from bot.status_messages import reply_to
from bot.store import View
from bot.stores import StateStore
from bot.texts import Texts

log = logging.getLogger(__name__)

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_VIEW_WAITS_S = (0.1, 0.2, 0.4, 0.8)


def view_id_for(job: Job, lang: str) -> str:
    """The same id on every delivery of one job: a second delivery after a crash edits the
    messages of the first instead of adding new ones. Short: callback data holds 64 bytes."""
    return f"{job.id[:16]}{lang}"


def _not_modified(exc: BadRequest) -> bool:
    return "not modified" in exc.message.lower()


class Delivery:
    def __init__(self, bot: Bot, store: StateStore, texts: Texts) -> None:
        self._bot = bot
        self._store = store
        self._texts = texts
        # Entries vanish once no switch holds their lock.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def show_digest(
        self, job: Job, digest: RenderedDigest, status_message_id: int | None
    ) -> None:
        """Replace the status message with the digest, one view per language asked for.

        Safe to repeat (a re-run after a crash in the middle of it): each view keeps its id,
        and the messages a view already has are edited (to the same text) rather than sent
        again."""
        reuse = [] if status_message_id is None else [status_message_id]
        for lang in job.languages:
            view_id = view_id_for(job, lang)
            shown = await asyncio.to_thread(self._store.view, view_id)
            if shown is not None:
                reuse = shown.message_ids + [m for m in reuse if m not in shown.message_ids]
            view = View(view_id, digest.id, job.chat_id, [], lang)
            parts = digest.languages[lang].html_parts
            for i, part in enumerate(parts):
                markup = self._keyboard(job.ui_language, view) if i == len(parts) - 1 else None
                message_id = reuse.pop(0) if reuse else None
                if message_id is not None and not await self._edit(
                    job.chat_id, message_id, part, markup
                ):
                    message_id = None
                if message_id is None:
                    message = await self._send(job.chat_id, part, markup, job.reply_to_message_id)
                    message_id = message.message_id
                view.message_ids.append(message_id)
            await asyncio.to_thread(self._store.save_view, view)

    async def _load(self, view_id: str, chat_id: int) -> tuple[View, RenderedDigest] | None:
        view = await asyncio.to_thread(self._store.view, view_id)
        # The view is saved just after its last message (the one with the buttons) is sent:
        # a press that quick, or one that reached another front end, waits for it briefly.
        for delay in _VIEW_WAITS_S:
            if view is not None:
                break
            await asyncio.sleep(delay)
            view = await asyncio.to_thread(self._store.view, view_id)
        # A view is only ever shown in its own chat, whatever callback data a client sends.
        if view is None or view.chat_id != chat_id:
            return None
        digest = await asyncio.to_thread(self._store.digest, view.digest_id)
        return (view, digest) if digest is not None else None

    async def switch(self, view_id: str, lang: str, ui: str, chat_id: int) -> bool:
        """Show the view in ``lang`` by editing its messages; False if the digest is gone."""
        # Taps are handled concurrently; two on one digest must not interleave their edits.
        lock = self._locks.get(view_id)
        if lock is None:
            lock = self._locks[view_id] = asyncio.Lock()
        async with lock:
            return await self._switch(view_id, lang, ui, chat_id)

    async def _switch(self, view_id: str, lang: str, ui: str, chat_id: int) -> bool:
        loaded = await self._load(view_id, chat_id)
        if loaded is None or lang not in loaded[1].languages:
            return False
        view, digest = loaded
        if lang == view.lang:
            return True
        parts = digest.languages[lang].html_parts
        old_ids = list(view.message_ids)
        view.lang = lang
        view.message_ids = []
        for i, part in enumerate(parts):
            markup = self._keyboard(ui, view) if i == len(parts) - 1 else None
            if i < len(old_ids):
                await self._edit(view.chat_id, old_ids[i], part, markup)
                view.message_ids.append(old_ids[i])
            else:
                message = await self._send(view.chat_id, part, markup, None)
                view.message_ids.append(message.message_id)
        for surplus in old_ids[len(parts) :]:
            try:
                await self._bot.delete_message(view.chat_id, surplus)
            except TelegramError:
                # Too old to delete (48 h): leave it without its buttons.
                await self._edit(view.chat_id, surplus, "…", None, html=False)
        await asyncio.to_thread(self._store.save_view, view)
        return True

    async def send_file(self, view_id: str, fmt: str, ui: str, chat_id: int) -> bool:
        """Send the view's current language as a Markdown or JSON file; False if gone."""
        loaded = await self._load(view_id, chat_id)
        if loaded is None:
            return False
        view, digest = loaded
        rendered = digest.languages[view.lang]
        content = rendered.markdown if fmt == "md" else rendered.json
        name = digest.file_name(view.lang, fmt)
        caption = self._texts.get(
            ui, "file_caption", language=self._texts.language_name(view.lang, ui)
        )
        await self._bot.send_document(
            view.chat_id, InputFile(content.encode("utf-8"), filename=name), caption=caption
        )
        return True

    def _keyboard(self, ui: str, view: View) -> InlineKeyboardMarkup:
        return digest_keyboard(self._texts, ui, view.id, view.lang)

    async def _send(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        reply_to_id: int | None,
    ) -> Message:
        return await self._bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            reply_parameters=reply_to(reply_to_id),
            link_preview_options=_NO_PREVIEW,
        )

    async def _edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        html: bool = True,
    ) -> bool:
        try:
            await self._bot.edit_message_text(
                text,
                chat_id,
                message_id,
                parse_mode=ParseMode.HTML if html else None,
                reply_markup=markup,
                link_preview_options=_NO_PREVIEW,
            )
        except BadRequest as exc:
            if _not_modified(exc):
                return True
            log.info("edit of message %s failed: %s", message_id, exc.message)
            return False
        return True
