"""Inline keyboards and their callback data (at most 64 bytes, so ids are short)."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import Texts
from settings.schema import SUPPORTED_LANGUAGES

# Callback data: "v:<view id>:<lang>" switches a digest, "f:<view id>:<md|json>" sends it as
# a file, "l:<lang>" toggles a language in /lang and "l:done" closes that menu.
VIEW, FILE, LANG = "v", "f", "l"
DONE = "done"
FORMATS = ("md", "json")
_MARK = "✓ "


@dataclass(frozen=True, slots=True)
class Callback:
    kind: str
    target: str
    value: str


def parse(data: str | None) -> Callback | None:
    parts = (data or "").split(":")
    if len(parts) == 3 and parts[0] in (VIEW, FILE):
        kind, target, value = parts
        valid = SUPPORTED_LANGUAGES if kind == VIEW else FORMATS
        return Callback(kind, target, value) if value in valid else None
    if len(parts) == 2 and parts[0] == LANG and parts[1] in (*SUPPORTED_LANGUAGES, DONE):
        return Callback(LANG, "", parts[1])
    return None


def digest_keyboard(texts: Texts, ui: str, view_id: str, current: str) -> InlineKeyboardMarkup:
    languages = [
        InlineKeyboardButton(
            (_MARK if lang == current else "") + texts.buttons[lang],
            callback_data=f"{VIEW}:{view_id}:{lang}",
        )
        for lang in SUPPORTED_LANGUAGES
    ]
    files = [
        InlineKeyboardButton(
            texts.get(ui, "button_markdown"), callback_data=f"{FILE}:{view_id}:md"
        ),
        InlineKeyboardButton(texts.get(ui, "button_json"), callback_data=f"{FILE}:{view_id}:json"),
    ]
    return InlineKeyboardMarkup([languages, files])


def language_keyboard(texts: Texts, ui: str, chosen: list[str]) -> InlineKeyboardMarkup:
    toggles = [
        InlineKeyboardButton(
            (_MARK if lang in chosen else "") + texts.buttons[lang], callback_data=f"{LANG}:{lang}"
        )
        for lang in SUPPORTED_LANGUAGES
    ]
    done = InlineKeyboardButton(texts.get(ui, "button_done"), callback_data=f"{LANG}:{DONE}")
    return InlineKeyboardMarkup([toggles, [done]])
