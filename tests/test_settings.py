from pathlib import Path

import pytest

from settings import SettingsError, load_settings


def test_bundled_defaults_load_and_resolve_prompts() -> None:
    settings = load_settings(environ={})
    assert settings.summary.max_bullets == 6
    assert settings.paths.prompts_dir.is_absolute()
    assert (settings.paths.prompts_dir / "taxonomy.toml").exists()


def test_environment_overrides_any_key() -> None:
    settings = load_settings(
        environ={
            "BRIEFING_DIGEST_SUMMARY__MAX_BULLETS": "2",
            "BRIEFING_DIGEST_OUTPUT__LANGUAGES": "en,ru",
            "BRIEFING_DIGEST_TRANSLATION__GENERATION__NUM_BEAMS": "1",
            "BRIEFING_DIGEST_DATA_DIR": "/tmp/bd-data",
        }
    )
    assert settings.summary.max_bullets == 2
    assert settings.output.languages == ["en", "ru"]
    assert settings.translation.generation.num_beams == 1
    assert settings.storage.dir == Path("/tmp/bd-data")


def test_override_file_beats_defaults_and_env_beats_file(tmp_path: Path) -> None:
    override = tmp_path / "site.toml"
    override.write_text("[summary]\nmax_bullets = 1\nmax_topics = 4\n", encoding="utf-8")
    settings = load_settings(override, environ={"BRIEFING_DIGEST_SUMMARY__MAX_TOPICS": "5"})
    assert settings.summary.max_bullets == 1
    assert settings.summary.max_topics == 5
    via_env = load_settings(environ={"BRIEFING_DIGEST_CONFIG": str(override)})
    assert via_env.summary.max_bullets == 1


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"BRIEFING_DIGEST_SUMMARY__MAX_BULLETS": "0"}, "summary.max_bullets"),
        ({"BRIEFING_DIGEST_SUMMARY__MAX_BULETS": "2"}, "summary.max_bulets: unknown key"),
        ({"BRIEFING_DIGEST_OUTPUT__LANGUAGES": "en,fr"}, "output.languages"),
        ({"BRIEFING_DIGEST_SUMMARY__ENGINE": "magic"}, "summary.engine"),
    ],
)
def test_invalid_values_name_the_key(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings(environ=environ)


def test_missing_or_broken_override_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[summary\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(broken, environ={})
