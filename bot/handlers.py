"""Telegram handlers: turn updates into jobs and answers. No model work happens here."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import math
import re
import secrets
import sqlite3
from pathlib import PurePath

from telegram import Message, MessageEntity, Update, User
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import keyboards
from bot.access import is_allowed
from bot.api_retry import is_transient
from bot.gather import Paste
from bot.jobs import Job, QueueFullError, Source, new_job_id
from bot.services import SERVICES_KEY, BotApp, Services
from bot.texts import ui_language
from bot.updates import (
    current_update_ids,
    leave_unsettled,
    retry_pause,
    set_current_update_ids,
)
from digest.ingest import SUPPORTED_EXTENSIONS
from settings.schema import SUPPORTED_LANGUAGES

log = logging.getLogger(__name__)

# Fewer words than this is a greeting or a stray message, not a briefing.
MIN_WORDS = 8
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
# Scripts written without spaces between words (Chinese, Japanese kana, Thai, Lao, Myanmar,
# Khmer): each character counts as a word, so that such a paste reaches the language check
# (and is refused for its language, not for being "too short").
_UNSPACED = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]"
)
Context = ContextTypes.DEFAULT_TYPE


def register(app: BotApp) -> None:
    """Wire every handler; group -1 is the allow-list gate that runs before all others."""
    app.add_handler(TypeHandler(Update, gate), group=-1)
    app.add_handler(CommandHandler(["start", "help"], on_start))
    app.add_handler(CommandHandler("lang", on_lang))
    app.add_handler(CommandHandler("settings", on_settings))
    app.add_handler(CommandHandler("cancel", on_cancel))
    app.add_handler(CommandHandler("status", on_status))
    app.add_handler(CommandHandler("digest", on_digest))
    app.add_handler(CallbackQueryHandler(on_callback))
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    app.add_handler(MessageHandler(private & filters.Document.ALL, on_private_document))
    app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_private_text))
    app.add_handler(MessageHandler(private & filters.COMMAND, on_start))  # unknown command: help
    app.add_handler(MessageHandler(private & ~filters.StatusUpdate.ALL, on_private_other))
    app.add_handler(
        MessageHandler(
            groups & (filters.TEXT | filters.CAPTION) & ~filters.COMMAND, on_group_message
        )
    )
    app.add_error_handler(on_error)


def services(context: Context) -> Services:
    return context.bot_data[SERVICES_KEY]  # type: ignore[no-any-return]


def _ui(user: User | None) -> str:
    return ui_language(user.language_code if user else None)


def word_count(text: str) -> int:
    """Words separated by spaces, plus one per character of a script that uses no spaces."""
    return len(text.split()) + len(_UNSPACED.findall(text))


# -- allow-list -----------------------------------------------------------------------------
async def gate(update: Update, context: Context) -> None:
    svc = services(context)
    user, chat = update.effective_user, update.effective_chat
    if is_allowed(svc.settings.telegram, user.id if user else None, chat.id if chat else None):
        return
    log.warning(
        "refused update from user %s in chat %s", user.id if user else "?", chat.id if chat else "?"
    )
    text = svc.texts.get(_ui(user), "unauthorised")
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif (
        update.effective_message is not None and chat is not None and chat.type == ChatType.PRIVATE
    ):
        # In groups a refusal to every message would be noise: stay quiet there.
        await update.effective_message.reply_text(text)
    raise ApplicationHandlerStop


# -- commands -------------------------------------------------------------------------------
async def on_start(update: Update, context: Context) -> None:
    svc = services(context)
    message = update.effective_message
    if message is None:
        return
    ui = _ui(update.effective_user)
    command = (message.text or "").split()[0].split("@")[0] if message.text else ""
    key = "start" if command == "/start" else "help"
    max_mb = f"{svc.settings.telegram.max_file_bytes / 1e6:g}"
    await message.reply_text(
        svc.texts.get(ui, key, max_mb=max_mb) if key == "help" else svc.texts.get(ui, key)
    )


async def chat_languages(svc: Services, chat_id: int, user: User | None) -> list[str]:
    """The chat's chosen languages; else the user's Telegram language; else the configured ones."""
    stored = await asyncio.to_thread(svc.store.chat_languages, chat_id)
    if stored:
        return stored
    code = (user.language_code or "").split("-")[0].lower() if user else ""
    return [code] if code in SUPPORTED_LANGUAGES else list(svc.settings.output.languages)


async def on_lang(update: Update, context: Context) -> None:
    svc = services(context)
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    ui = _ui(update.effective_user)
    chosen = await chat_languages(svc, chat.id, update.effective_user)
    await message.reply_text(
        svc.texts.get(ui, "lang_prompt"),
        reply_markup=keyboards.language_keyboard(svc.texts, ui, chosen),
    )


async def on_settings(update: Update, context: Context) -> None:
    svc = services(context)
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    ui = _ui(update.effective_user)
    chosen = await chat_languages(svc, chat.id, update.effective_user)
    await message.reply_text(
        svc.texts.get(
            ui,
            "settings_text",
            languages=svc.texts.language_list(chosen, ui),
            engine=svc.settings.summary.engine,
            ui_language=svc.texts.language_name(ui, ui),
        )
    )


async def on_cancel(update: Update, context: Context) -> None:
    svc = services(context)
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    cancellation = await asyncio.to_thread(svc.jobs.cancel, user.id)
    paste = await svc.gatherer.drop(message.chat_id, user.id)
    if paste is not None:
        await svc.ledger.settle(paste.update_ids)
    count = cancellation.count + int(paste is not None)
    ui = _ui(user)
    # Waiting jobs never start, so their "in the queue" messages are updated here; the running
    # one updates its own when it stops.
    for job in cancellation.waiting:
        if job.status_message_id is not None:
            with contextlib.suppress(TelegramError):
                await context.bot.edit_message_text(
                    svc.texts.get(job.ui_language, "job_cancelled"),
                    job.chat_id,
                    job.status_message_id,
                )
    text = (
        svc.texts.get(ui, "cancelled", count=count)
        if count
        else svc.texts.get(ui, "nothing_to_cancel")
    )
    await message.reply_text(text)


async def on_status(update: Update, context: Context) -> None:
    svc = services(context)
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    ui = _ui(user)
    position = await asyncio.to_thread(svc.jobs.position, user.id)
    if position is None:
        text = svc.texts.get(ui, "status_idle")
    elif position == 0:
        text = svc.texts.get(ui, "status_running")
    else:
        text = svc.texts.get(ui, "status_queued", position=position)
    await message.reply_text(text)


async def on_digest(update: Update, context: Context) -> None:
    """/digest in reply to a message digests that message; /digest TEXT digests TEXT."""
    svc = services(context)
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    # The text after the command, line breaks kept (context.args would lose them).
    parts = (message.text or "").split(None, 1)
    args_text = parts[1].strip() if len(parts) > 1 else ""
    if message.reply_to_message is not None and not args_text:
        await submit_message(svc, message.reply_to_message, user, answer_to=message)
    elif args_text:
        await submit_text(svc, message, user, args_text)
    else:
        await message.reply_text(svc.texts.get(_ui(user), "digest_needs_reply"))


# -- messages -------------------------------------------------------------------------------
async def on_private_text(update: Update, context: Context) -> None:
    svc = services(context)
    message = update.effective_message
    if message is None or message.text is None:
        return
    # Long pastes arrive as several messages: gather them; the flush submits the whole.
    # The update counts as handled only once the paste is a job (see bot/updates.py).
    svc.ledger.defer(update.update_id)
    await svc.gatherer.add(message, message.text, update.update_id)


async def flush_paste(svc: Services, paste: Paste) -> None:
    """Submit a gathered paste. It runs outside PTB's handlers, so it apologises itself.

    Its parts are done only once the paste is a job or its user was told why it is not; until
    then it is tried again after a growing pause. (A stop meanwhile cancels this: the parts,
    not done, are gathered again after the restart.)"""
    tries = 0
    while not await _submit_paste(svc, paste):
        tries += 1
        pause = retry_pause(tries)
        log.warning("a paste of %d part(s) is tried again in %.0f s", len(paste.parts), pause)
        await asyncio.sleep(pause)
    tries = 0
    while True:
        try:
            await svc.ledger.settle(paste.update_ids)
            return
        except Exception as exc:
            tries += 1
            log.error("a paste's parts cannot be marked done (%s); trying again", exc)
            await asyncio.sleep(retry_pause(tries))


async def _submit_paste(svc: Services, paste: Paste) -> bool:
    """True once the paste is a job, or its user was told why not."""
    message = paste.first
    if message is None or message.from_user is None:
        return True
    token = set_current_update_ids(paste.update_ids)
    try:
        await submit_text(svc, message, message.from_user, paste.text)
        return True
    except Exception as exc:
        return await apologise(svc, message, message.from_user, exc)
    finally:
        token.var.reset(token)


async def on_private_document(update: Update, context: Context) -> None:
    svc = services(context)
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    await submit_message(svc, message, user, answer_to=message)


async def on_private_other(update: Update, context: Context) -> None:
    """A sticker, photo without caption, voice note...: nothing to read."""
    svc = services(context)
    message = update.effective_message
    if message is None:
        return
    if message.caption:
        await submit_text(svc, message, update.effective_user, message.caption)
        return
    await message.reply_text(svc.texts.get(_ui(update.effective_user), "no_text"))


async def on_group_message(update: Update, context: Context) -> None:
    """In groups only a mention of the bot counts; ordinary chatter is ignored."""
    svc = services(context)
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    remainder = _without_mention(message, context.bot.username, context.bot.id)
    if remainder is None:
        return
    if message.document is not None:
        await submit_message(svc, message, user, answer_to=message)
    elif word_count(remainder) >= MIN_WORDS:
        await submit_text(svc, message, user, remainder)
    elif message.reply_to_message is not None:
        await submit_message(svc, message.reply_to_message, user, answer_to=message)
    elif remainder:
        await message.reply_text(svc.texts.get(_ui(user), "too_short"))
    else:
        await message.reply_text(svc.texts.get(_ui(user), "digest_needs_reply"))


def _without_mention(message: Message, username: str, bot_id: int) -> str | None:
    """The text with the bot's mention removed, or None if the bot is not mentioned."""
    text = message.text if message.text is not None else message.caption
    if text is None:
        return None
    entities = (
        message.parse_entities() if message.text is not None else message.parse_caption_entities()
    )
    mentioned = False
    for entity, value in entities.items():
        kind = entity.type
        by_name = kind == MessageEntity.MENTION and value.lower() == f"@{username}".lower()
        by_id = kind == MessageEntity.TEXT_MENTION and getattr(entity.user, "id", 0) == bot_id
        if by_name or by_id:
            mentioned = True
            text = text.replace(value, " ")
    return text.strip() if mentioned else None


# -- submitting -----------------------------------------------------------------------------
async def submit_message(svc: Services, target: Message, user: User, *, answer_to: Message) -> None:
    """Digest ``target`` (a document, or its text or caption); answers go to ``answer_to``."""
    ui = _ui(user)
    document = target.document
    if document is not None:
        name = document.file_name or "document.txt"
        max_bytes = svc.settings.telegram.max_file_bytes
        if document.file_size is not None and document.file_size > max_bytes:
            await answer_to.reply_text(
                svc.texts.get(
                    ui,
                    "file_too_big",
                    size_mb=f"{document.file_size / 1e6:.1f}",
                    max_mb=f"{max_bytes / 1e6:g}",
                )
            )
            return
        extension = PurePath(name).suffix.lower()
        if extension and extension not in SUPPORTED_EXTENSIONS:
            await answer_to.reply_text(
                svc.texts.get(ui, "file_type_unsupported", extension=extension)
            )
            return
        await submit(svc, answer_to, user, Source("file", document.file_id, name))
        return
    await submit_text(svc, answer_to, user, target.text or target.caption or "")


async def submit_text(svc: Services, message: Message, user: User | None, text: str) -> None:
    if user is None:
        return
    ui = _ui(user)
    text = text.strip()
    if not text:
        await message.reply_text(svc.texts.get(ui, "no_text"))
        return
    if _URL.match(text):
        if not text.lower().startswith(("http://", "https://")):
            await message.reply_text(svc.texts.get(ui, "url_scheme"))
            return
        await submit(svc, message, user, Source("url", text, text))
        return
    if word_count(text) < MIN_WORDS:
        await message.reply_text(svc.texts.get(ui, "too_short"))
        return
    await submit(svc, message, user, Source("text", text, "message.txt"))


async def submit(svc: Services, message: Message, user: User, source: Source) -> None:
    """Rate limit, store the job, then say "Got it" (that message later shows the digest).

    The job is stored before anything is sent: once it exists (and with it, in the same
    transaction, the mark that its updates are handled), no failure of Telegram can lose it.
    """
    ui = _ui(user)
    wait = await svc.limiter.take(user.id)
    if wait > 0:
        await message.reply_text(svc.texts.get(ui, "rate_limited", seconds=math.ceil(wait)))
        return
    try:
        languages = await chat_languages(svc, message.chat_id, user)
        job = Job(
            id=new_job_id(),
            user_id=user.id,
            chat_id=message.chat_id,
            source=source,
            languages=tuple(languages),
            ui_language=ui,
            reply_to_message_id=message.message_id,
            # A redelivered update never makes a second job.
            update_ids=current_update_ids(),
        )
        # In a thread: the durable queue writes (and syncs) SQLite.
        await asyncio.to_thread(svc.jobs.submit, job)
    except QueueFullError:
        await svc.limiter.give_back(user.id)
        log.warning("queue full: refused a job from user %s", user.id)
        await message.reply_text(svc.texts.get(ui, "queue_full"))
        return
    except BaseException:
        with contextlib.suppress(Exception):
            await svc.limiter.give_back(user.id)  # nothing was queued
        raise
    svc.metrics.job_submitted()
    log.info("job %s queued (user %s, chat %s, %s)", job.id, user.id, message.chat_id, source.kind)
    await svc.status.acknowledge(job, svc.texts.get(ui, "received"))


# -- buttons --------------------------------------------------------------------------------
async def on_callback(update: Update, context: Context) -> None:
    svc = services(context)
    query = update.callback_query
    if query is None:
        return
    ui = _ui(update.effective_user)
    callback = keyboards.parse(query.data)
    message = query.message
    if callback is None or message is None:
        await query.answer()
        return
    chat_id = message.chat.id
    if callback.kind == keyboards.LANG:
        await _on_lang_button(svc, update, callback.value, ui)
        return
    try:
        if callback.kind == keyboards.VIEW:
            done = await svc.delivery.switch(callback.target, callback.value, ui, chat_id)
        else:
            done = await svc.delivery.send_file(callback.target, callback.value, ui, chat_id)
    except Exception as exc:
        # The button's spinner must stop either way: answer with the apology, then log.
        ref = secrets.token_hex(4)
        log.error("button %s failed (ref %s)", query.data, ref, exc_info=exc)
        await query.answer(svc.texts.get(ui, "failure", ref=ref), show_alert=True)
        return
    if done:
        await query.answer()
    else:
        await query.answer(svc.texts.get(ui, "digest_gone"), show_alert=True)


async def _on_lang_button(svc: Services, update: Update, value: str, ui: str) -> None:
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    chosen = await chat_languages(svc, chat.id, update.effective_user)
    if value == keyboards.DONE:
        await query.answer()
        await query.edit_message_text(
            svc.texts.get(ui, "lang_saved", languages=svc.texts.language_list(chosen, ui))
        )
        return
    toggled = await asyncio.to_thread(svc.store.toggle_chat_language, chat.id, value, chosen)
    if toggled is None:
        await query.answer(svc.texts.get(ui, "lang_need_one"), show_alert=True)
        return
    try:
        await query.edit_message_reply_markup(keyboards.language_keyboard(svc.texts, ui, toggled))
    except BadRequest as exc:
        # Two quick taps can produce the same keyboard twice; Telegram refuses the repeat.
        if "not modified" not in exc.message.lower():
            raise
    await query.answer()


# -- errors ---------------------------------------------------------------------------------
async def on_error(update: object, context: Context) -> None:
    """Any handler failure: log it with a reference, apologise, keep running. If the user
    could not be told, the update is handled again later (bot/updates.py)."""
    message = update.effective_message if isinstance(update, Update) else None
    user = update.effective_user if isinstance(update, Update) else None
    if not await apologise(services(context), message, user, context.error):
        leave_unsettled()


# OS errors of a full, read-only or failing disk (others, a timeout say, are no storage fault).
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def _storage_failure(error: BaseException | None) -> bool:
    """The store could not be written: worth trying again later, not an apology."""
    if isinstance(error, sqlite3.OperationalError):
        return True
    return isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS


async def apologise(
    svc: Services, message: Message | None, user: User | None, error: BaseException | None
) -> bool:
    """Tell the user their request failed. False when it should rather be tried again: the
    store failed (the disk is full?), or the apology itself could not be sent."""
    if _storage_failure(error):
        log.error("storage failed (%s): the request is tried again later", error)
        return False
    ref = secrets.token_hex(4)
    log.error("update failed (ref %s)", ref, exc_info=error)
    if message is None:
        return True
    try:
        await message.reply_text(svc.texts.get(_ui(user), "failure", ref=ref))
    except Exception as exc:
        # Refused for good (blocked by the user, chat gone): nobody to tell.
        if not is_transient(exc):
            log.warning("the apology for ref %s was refused: %s", ref, exc)
            return True
        log.warning("could not send the apology for ref %s: %s", ref, exc)
        return False
    return True
