"""UI strings of the bot, read from ``prompts/ui.toml``: no user-facing text lives in code."""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digest.resources import ResourceError
from settings.schema import SUPPORTED_LANGUAGES

UI_FILE = "ui.toml"
DEFAULT_UI_LANGUAGE = "en"


def ui_language(language_code: str | None) -> str:
    """The UI language for a Telegram ``language_code`` ("ru", "hi-IN", "en-GB"); else English."""
    if not language_code:
        return DEFAULT_UI_LANGUAGE
    base = language_code.split("-")[0].lower()
    return base if base in SUPPORTED_LANGUAGES else DEFAULT_UI_LANGUAGE


@dataclass(frozen=True, slots=True)
class Texts:
    tables: dict[str, dict[str, Any]]
    buttons: dict[str, str]

    @classmethod
    def load(cls, prompts_dir: Path) -> Texts:
        path = Path(prompts_dir) / UI_FILE
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ResourceError(f"cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ResourceError(f"{path} is not valid TOML: {exc}") from None
        tables = {lang: data.get(lang) for lang in SUPPORTED_LANGUAGES}
        if not isinstance(tables["en"], dict):
            raise ResourceError(f"{path} has no [en] table")
        problems: list[str] = []
        for lang, table in tables.items():
            if not isinstance(table, dict):
                problems.append(f"[{lang}] is missing")
                continue
            problems += _compare(tables["en"], table, lang)
        buttons = data.get("buttons", {})
        problems += [
            f"buttons.{lang} is missing" for lang in SUPPORTED_LANGUAGES if lang not in buttons
        ]
        if problems:
            raise ResourceError(f"{path}: {'; '.join(problems)}")
        return cls(tables=tables, buttons=dict(buttons))  # type: ignore[arg-type]

    def get(self, lang: str, key: str, **values: object) -> str:
        """The string ``key`` (dotted for sub-tables) in ``lang``, formatted with ``values``."""
        node: Any = self.tables.get(lang) or self.tables[DEFAULT_UI_LANGUAGE]
        for part in key.split("."):
            node = node[part]
        return node.format(**values) if values else node

    def language_name(self, code: str, in_language: str) -> str:
        return self.tables[in_language]["language_names"].get(code, code)

    def language_list(self, codes: list[str] | tuple[str, ...], in_language: str) -> str:
        return ", ".join(self.language_name(code, in_language) for code in codes)

    def commands(self, lang: str) -> list[tuple[str, str]]:
        """(command, description) pairs for the command menu in ``lang``."""
        return list(self.tables[lang]["commands"].items())


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _compare(reference: dict[str, Any], table: dict[str, Any], where: str) -> list[str]:
    """Keys missing from ``table`` or whose placeholders differ from ``reference``."""
    problems: list[str] = []
    for key, ref_value in reference.items():
        path = f"{where}.{key}"
        if key not in table:
            problems.append(f"{path} is missing")
        elif isinstance(ref_value, dict):
            if isinstance(table[key], dict):
                problems += _compare(ref_value, table[key], path)
            else:
                problems.append(f"{path} should be a table")
        elif not isinstance(table[key], str):
            problems.append(f"{path} should be a string")
        elif _placeholders(table[key]) != _placeholders(ref_value):
            problems.append(
                f"{path} has placeholders {sorted(_placeholders(table[key]))}, "
                f"[en] has {sorted(_placeholders(ref_value))}"
            )
    return problems
