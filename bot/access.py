"""The optional allow-list of users and chats."""

from __future__ import annotations

from settings.schema import TelegramSettings


def is_allowed(settings: TelegramSettings, user_id: int | None, chat_id: int | None) -> bool:
    """Everyone when both lists are empty; else a listed user (anywhere) or a listed chat
    (for all its members: a group on the list is served in that group)."""
    users, chats = settings.allowed_user_ids, settings.allowed_chat_ids
    if not users and not chats:
        return True
    return (user_id is not None and user_id in users) or (chat_id is not None and chat_id in chats)
