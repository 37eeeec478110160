"""Whether a user may subscribe a channel: the channel exists, they are its admin, and the bot
is an admin that may post there. Asked of Telegram each time (getChat,
getChatAdministrators): admin rights change, and a stale answer would let a former admin in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from telegram import Bot, ChatMemberAdministrator, ChatMemberOwner
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden

log = logging.getLogger(__name__)


class ChannelProblem(StrEnum):
    """Why a channel cannot be subscribed; each names its own message in prompts/ui.toml."""

    NOT_FOUND = "channel_not_found"
    NOT_CHANNEL = "channel_not_channel"
    USER_NOT_ADMIN = "channel_not_admin"
    BOT_NOT_ADMIN = "channel_bot_not_admin"


@dataclass(frozen=True, slots=True)
class ChannelCheck:
    chat_id: int | None = None
    problem: ChannelProblem | None = None


async def check_channel_admin(bot: Bot, handle: str, user_id: int) -> ChannelCheck:
    """The channel ``handle`` (``@name`` or a numeric id) if ``user_id`` administers it and the
    bot may post in it; else the problem."""
    target: str | int = int(handle) if handle.lstrip("-").isdigit() else handle
    try:
        chat = await bot.get_chat(target)
    except (BadRequest, Forbidden) as exc:
        log.info("channel %s not found: %s", handle, exc.message)
        return ChannelCheck(problem=ChannelProblem.NOT_FOUND)
    if chat.type != ChatType.CHANNEL:
        return ChannelCheck(problem=ChannelProblem.NOT_CHANNEL)
    try:
        admins = await bot.get_chat_administrators(chat.id)
    except (BadRequest, Forbidden) as exc:
        # Telegram tells a bot a channel's admins only when it is a member.
        log.info("admins of %s not available: %s", handle, exc.message)
        return ChannelCheck(problem=ChannelProblem.BOT_NOT_ADMIN)
    if not any(member.user.id == user_id for member in admins):
        return ChannelCheck(problem=ChannelProblem.USER_NOT_ADMIN)
    if not any(_may_post(member, bot.id) for member in admins):
        return ChannelCheck(problem=ChannelProblem.BOT_NOT_ADMIN)
    return ChannelCheck(chat_id=chat.id)


def _may_post(member: object, bot_id: int) -> bool:
    if isinstance(member, ChatMemberOwner):
        return member.user.id == bot_id
    return (
        isinstance(member, ChatMemberAdministrator)
        and member.user.id == bot_id
        and bool(member.can_post_messages)
    )


async def is_group_admin(bot: Bot, chat_id: int, user_id: int) -> bool:
    """Whether ``user_id`` administers the group ``chat_id`` (only they change what a group
    follows: one member must not fill everyone's chat with feeds)."""
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except (BadRequest, Forbidden) as exc:
        log.info("membership of %s in %s unknown: %s", user_id, chat_id, exc.message)
        return False
    return isinstance(member, ChatMemberAdministrator | ChatMemberOwner)
