"""The built wheel runs outside the checkout: its code, config.toml and prompts/ are inside it.

Marked ``wheel`` (about 10-60 s): it builds the wheel from a copy of the source tree, installs
it with --no-deps into a fresh venv whose site-packages reaches the test venv's (for the core
dependencies, through a .pth file), and digests a sample copied to a folder outside both.
"""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from settings import PROJECT_ROOT

pytestmark = pytest.mark.wheel

# Never part of a build: environments, caches, earlier builds, data written by runs.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "data", "out"
)


def _run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH: the installed copy must stand on its own.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv holding the wheel (and nothing of the checkout)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(PROJECT_ROOT, source, ignore=_NOT_SOURCE)
    dist = root / "dist"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("briefing_digest-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    # The core dependencies come from the test venv, after the venv's own site-packages.
    (own_site,) = (env_dir / "lib").glob("python3*/site-packages")
    (own_site / "test_venv_dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )
    return env_dir / "bin"


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    shutil.copy(PROJECT_ROOT / "samples" / "ru_briefing.txt", folder / "briefing.txt")
    return folder


def test_the_installed_code_is_the_wheels(installed: Path, outside: Path) -> None:
    code = (
        "import settings, digest, cli; "
        "print(settings.__file__, digest.__file__, cli.__file__, settings.DEFAULT_CONFIG, "
        "settings.load_settings(environ={}).paths.prompts_dir)"
    )
    result = _run([str(installed / "python"), "-c", code], outside)
    assert result.returncode == 0, result.stderr
    venv_root = str(installed.parent)
    assert all(path.startswith(venv_root) for path in result.stdout.split())


def test_the_wheel_digests_a_file_outside_the_checkout(installed: Path, outside: Path) -> None:
    argv = [str(installed / "briefing-digest"), "digest", "briefing.txt", "--lang", "ru"]
    result = _run(argv, outside)
    assert result.returncode == 0, result.stderr
    # Topic titles and labels come from the bundled prompts/, settings from config.toml.
    assert result.stdout.startswith("# ")
    assert "## Торговля и экономика" in result.stdout
    assert "_Источник: briefing.txt" in result.stdout


def test_the_wheel_prints_the_json_envelope(installed: Path, outside: Path) -> None:
    argv = [str(installed / "briefing-digest"), "digest", "briefing.txt", "--format", "json"]
    result = _run([*argv, "--lang", "ru,en"], outside)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [d["language"] for d in data["digests"]] == ["ru", "en"]


def test_the_wheel_knows_its_version(installed: Path, outside: Path) -> None:
    result = _run([str(installed / "briefing-digest"), "--version"], outside)
    assert result.returncode == 0 and result.stdout.startswith("briefing-digest 0.")
