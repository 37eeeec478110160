"""Load settings: bundled ``config.toml`` < override file < environment variables."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from settings.bundled import SOURCE_ROOT, bundled_path
from settings.schema import Settings

# The source tree (samples/, docs/ for tests and benchmarks); installed, the site-packages.
PROJECT_ROOT = SOURCE_ROOT
DEFAULT_CONFIG = bundled_path("config.toml")
ENV_PREFIX = "BRIEFING_DIGEST_"
# Environment variables with a meaning of their own, not ``<SECTION>__<KEY>`` overrides.
_ENV_SHORTCUTS = {
    "BRIEFING_DIGEST_DATA_DIR": ("storage", "dir"),
    "TELEGRAM_BASE_URL": ("telegram", "base_url"),
    "TELEGRAM_BASE_FILE_URL": ("telegram", "base_file_url"),
}


class SettingsError(ValueError):
    """The configuration is unreadable or invalid; the message names the key."""


def load_settings(
    override: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings from the bundled defaults, an override file and the environment."""
    env = os.environ if environ is None else environ
    data = _read_toml(DEFAULT_CONFIG) if DEFAULT_CONFIG.exists() else {}
    override = override or env.get("BRIEFING_DIGEST_CONFIG")
    if override:
        _deep_merge(data, _read_toml(Path(override)))
    _deep_merge(data, _env_overrides(env))
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, _env_origins(env))) from None
    return _resolve_paths(settings)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None


def _env_keys(env: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Environment variable -> the settings key it overrides."""
    keys: dict[str, tuple[str, ...]] = {}
    for name in env:
        if name in _ENV_SHORTCUTS:
            keys[name] = _ENV_SHORTCUTS[name]
        elif name.startswith(ENV_PREFIX) and "__" in name:
            keys[name] = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
    return keys


def _env_origins(env: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    return {keys: name for name, keys in _env_keys(env).items()}


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, keys in _env_keys(env).items():
        raw = env[name]
        node = result
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = _parse_env_value(raw)
    return result


def _parse_env_value(raw: str) -> Any:
    """Read a value as TOML (numbers, booleans, lists); bare text stays a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if "," in raw:
            return [part.strip() for part in raw.split(",") if part.strip()]
        return raw


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def _describe(exc: ValidationError, origins: Mapping[tuple[str, ...], str]) -> str:
    parts = []
    for error in exc.errors():
        loc = tuple(str(p) for p in error["loc"])
        key = ".".join(loc) or "(top level)"
        # A key set from the environment is named by its variable: that is where the typo is.
        # (An unknown section is reported at its own name, above the variable's full key.)
        variable = next(
            (v for k, v in origins.items() if loc and (loc[: len(k)] == k or k[: len(loc)] == loc)),
            None,
        )
        where = f" (environment variable {variable})" if variable else ""
        if error["type"] == "extra_forbidden":
            parts.append(f"{key}: unknown key{where}")
        else:
            parts.append(f"{key}: {error['msg']} (got {error.get('input')!r}){where}")
    return "invalid configuration: " + "; ".join(parts)


def _resolve_paths(settings: Settings) -> Settings:
    prompts = settings.paths.prompts_dir
    if not prompts.is_absolute():
        prompts = bundled_path(str(prompts))
    return settings.model_copy(
        update={"paths": settings.paths.model_copy(update={"prompts_dir": prompts})}
    )
