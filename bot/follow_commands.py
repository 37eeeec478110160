"""/follow, /following and /unfollow (with a button per source).

``/follow URL [pattern] [@channel] [every N min]``: a feed, or a listing page and the pattern
of its transcript links; ``@channel`` subscribes a channel the user administers (asked from
a private chat); ``every N min`` sets the check interval within [sources] limits.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.follow_channels import check_channel_admin, is_group_admin
from bot.follow_service import following
from bot.handlers import Context, _ui, chat_languages, services
from bot.services import BotApp
from bot.texts import Texts
from sources.model import AddOutcome, Health, SourceState, Subscription
from sources.parse import SourceFormatError, make_spec
from sources.safe_fetch import FetchError
from sources.schedule import IntervalError, interval_for

log = logging.getLogger(__name__)

# Callback data of an unfollow button: "uf:<source id>" or "uf:<source id>:<channel id>".
UNFOLLOW = "uf"
_EVERY = re.compile(r"^every$", re.IGNORECASE)
_MINUTES = re.compile(r"^(\d+(?:\.\d+)?)(?:m|min)?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FollowArgs:
    url: str
    pattern: str | None = None
    channel: str | None = None
    minutes: float | None = None


def parse_follow(text: str) -> FollowArgs | None:
    """The arguments of ``/follow ...``; None when they do not fit the usage."""
    words = text.split()[1:]
    url: str | None = None
    pattern: str | None = None
    channel: str | None = None
    minutes: float | None = None
    i = 0
    while i < len(words):
        word = words[i]
        if _EVERY.match(word) and i + 1 < len(words):
            match = _MINUTES.match(words[i + 1])
            if match is None:
                return None
            minutes = float(match.group(1))
            i += 2
            if i < len(words) and words[i].lower() in ("min", "minutes", "m"):
                i += 1
            continue
        if word.startswith("@") and len(word) > 1 and channel is None:
            channel = word
        elif url is None:
            url = word
        elif pattern is None:
            pattern = word
        else:
            return None
        i += 1
    return FollowArgs(url, pattern, channel, minutes) if url else None


def register(app: BotApp) -> None:
    app.add_handler(CommandHandler("follow", on_follow))
    app.add_handler(CommandHandler("following", on_following))
    app.add_handler(CommandHandler("unfollow", on_unfollow))
    app.add_handler(CallbackQueryHandler(on_unfollow_button, pattern=rf"^{UNFOLLOW}:"))


async def on_follow(update: Update, context: Context) -> None:
    svc, follow = services(context), following(context.bot_data)
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None:
        return
    ui = _ui(user)
    texts, limits = svc.texts, svc.settings.sources
    args = parse_follow(message.text or "")
    if args is None:
        await message.reply_text(texts.get(ui, "follow_usage"))
        return
    try:
        interval = interval_for(args.minutes, limits)
    except IntervalError as exc:
        key = "follow_interval_min" if exc.too_often else "follow_interval_max"
        await message.reply_text(texts.get(ui, key, minutes=f"{exc.limit_minutes:g}"))
        return
    try:
        spec = make_spec(args.url, args.pattern, interval)
    except (FetchError, SourceFormatError) as exc:
        await message.reply_text(texts.get(ui, "follow_bad", reason=str(exc)))
        return
    target = chat.id
    if args.channel is None and not await _may_manage(update, context, ui):
        return
    if args.channel is not None:
        found = await _channel(update, context, args.channel, ui)
        if found is None:
            return
        target = found
    # Posts come later, without a user to take a language from: the chat keeps the languages
    # it has now (its /lang, else the user's); a channel starts with its admin's.
    if not await asyncio.to_thread(svc.store.chat_languages, target):
        chosen = await chat_languages(svc, chat.id, user)
        await asyncio.to_thread(svc.store.set_chat_languages, target, chosen)
    outcome = await asyncio.to_thread(
        follow.store.follow, spec, Subscription(target, spec.id, user.id), limits.max_per_chat
    )
    if outcome is AddOutcome.ALREADY:
        text = texts.get(ui, "follow_already", url=spec.url)
    elif outcome is AddOutcome.LIMIT:
        text = texts.get(ui, "follow_limit", max=limits.max_per_chat)
    elif args.channel is not None:
        text = texts.get(ui, "follow_added_channel", channel=args.channel, url=spec.url)
    else:
        text = texts.get(ui, "follow_added", url=spec.url)
    await message.reply_text(text, disable_web_page_preview=True)
    if outcome is AddOutcome.ADDED:
        log.info("chat %s follows %s (by user %s)", target, spec.url, user.id)
        follow.wake()


async def _channel(update: Update, context: Context, handle: str, ui: str) -> int | None:
    """The channel's id if the user may manage its subscriptions; else told why, None."""
    svc = services(context)
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    assert message is not None and user is not None and chat is not None
    if chat.type != ChatType.PRIVATE:
        await message.reply_text(svc.texts.get(ui, "channel_in_private"))
        return None
    checked = await check_channel_admin(context.bot, handle, user.id)
    if checked.problem is not None:
        await message.reply_text(svc.texts.get(ui, checked.problem.value, channel=handle))
        return None
    return checked.chat_id


async def _may_manage(update: Update, context: Context, ui: str) -> bool:
    """In a group, only its admins change what it follows; told otherwise."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    assert message is not None and user is not None and chat is not None
    if chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return True
    if await is_group_admin(context.bot, chat.id, user.id):
        return True
    await message.reply_text(services(context).texts.get(ui, "group_admin_only"))
    return False


def _target_words(message: Message) -> str | None:
    """The ``@channel`` after /following or /unfollow, if any."""
    words = (message.text or "").split()[1:]
    return words[0] if words and words[0].startswith("@") else None


async def on_following(update: Update, context: Context) -> None:
    svc, follow = services(context), following(context.bot_data)
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or chat is None:
        return
    ui = _ui(user)
    target = chat.id
    handle = _target_words(message)
    if handle is not None:
        found = await _channel(update, context, handle, ui)
        if found is None:
            return
        target = found
    states = await asyncio.to_thread(follow.store.following, target)
    if not states:
        await message.reply_text(svc.texts.get(ui, "following_none"))
        return
    lines = [svc.texts.get(ui, "following_header")]
    lines += [_line(svc.texts, ui, state) for state in states]
    await message.reply_text("\n".join(lines), disable_web_page_preview=True)


def _line(texts: Texts, ui: str, state: SourceState) -> str:
    never = texts.get(ui, "following_never")
    source = state.spec.url + (f"  [{state.spec.pattern}]" if state.spec.pattern else "")
    item = state.newest.title or state.newest.link if state.newest else never
    checked = (
        datetime.fromtimestamp(state.last_check, UTC).strftime("%Y-%m-%d %H:%M UTC")
        if state.last_check
        else never
    )
    problem = ""
    if state.health is not Health.OK and state.last_error:
        problem = texts.get(ui, "following_failing", error=state.last_error)
    return texts.get(
        ui, "following_line", source=source, item=item, checked=checked, problem=problem
    )


async def on_unfollow(update: Update, context: Context) -> None:
    svc, follow = services(context), following(context.bot_data)
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or chat is None:
        return
    ui = _ui(user)
    target, suffix = chat.id, ""
    handle = _target_words(message)
    if handle is not None:
        found = await _channel(update, context, handle, ui)
        if found is None:
            return
        target, suffix = found, f":{found}"
    elif not await _may_manage(update, context, ui):
        return
    states = await asyncio.to_thread(follow.store.following, target)
    if not states:
        await message.reply_text(svc.texts.get(ui, "following_none"))
        return
    buttons = [
        [
            InlineKeyboardButton(
                _short(state.spec.url), callback_data=f"{UNFOLLOW}:{state.id}{suffix}"
            )
        ]
        for state in states
    ]
    await message.reply_text(
        svc.texts.get(ui, "unfollow_prompt"), reply_markup=InlineKeyboardMarkup(buttons)
    )


def _short(url: str, limit: int = 60) -> str:
    text = url.split("://", 1)[-1]
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def on_unfollow_button(update: Update, context: Context) -> None:
    svc, follow = services(context), following(context.bot_data)
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or chat is None or user is None:
        return
    ui = _ui(user)
    parts = (query.data or "").split(":")
    source_id = parts[1] if len(parts) > 1 else ""
    target = chat.id
    if len(parts) == 3 and parts[2].lstrip("-").isdigit():
        # A channel's subscription: its admins only, checked again at the tap.
        checked = await check_channel_admin(context.bot, parts[2], user.id)
        if checked.problem is not None:
            await query.answer(
                svc.texts.get(ui, checked.problem.value, channel=parts[2]), show_alert=True
            )
            return
        target = int(parts[2])
    elif chat.type in (ChatType.GROUP, ChatType.SUPERGROUP) and not await is_group_admin(
        context.bot, chat.id, user.id
    ):
        await query.answer(svc.texts.get(ui, "group_admin_only"), show_alert=True)
        return
    states = await asyncio.to_thread(follow.store.following, target)
    url = next((s.spec.url for s in states if s.id == source_id), None)
    removed = url is not None and await asyncio.to_thread(follow.store.unfollow, target, source_id)
    await query.answer()
    text = (
        svc.texts.get(ui, "unfollow_done", url=url)
        if removed
        else svc.texts.get(ui, "unfollow_gone")
    )
    await query.edit_message_text(text, disable_web_page_preview=True)
