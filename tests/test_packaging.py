"""Packaging: one version source, the release files, and the README's install section."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import hopfield
from hopfield.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_one_version_source(capsys: pytest.CaptureFixture[str]) -> None:
    from hopfield._version import __version__

    assert hopfield.__version__ == __version__
    assert importlib.metadata.version("hopfield") == __version__
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hopfield {__version__}"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"]
    assert "version" not in pyproject["project"]


def test_release_files_and_metadata() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert pyproject["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert f"## [{hopfield.__version__}]" in (ROOT / "CHANGELOG.md").read_text()
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for section in ("## Add a memory", "## Add a study", "## Add a benchmark"):
        assert section in contributing
    assert "Programming Language :: Python :: 3.11" in pyproject["classifiers"]
    # No [project.urls] until the project has a public address: an invented URL would
    # send users to someone else's page.
    assert "urls" not in pyproject


def _install_block() -> str:
    section = re.search(r"## Install\n(.*?)\n## ", (ROOT / "README.md").read_text(), re.DOTALL)
    assert section is not None, "README has no install section"
    (block,) = re.findall(r"```bash\n(.*?)```", section.group(1), flags=re.DOTALL)
    return block


def test_install_section_uses_the_cpu_wheel_index() -> None:
    block = _install_block()
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in block
    assert "pip install .\n" in block and "hopfield --version" in block


@pytest.mark.slow
def test_install_section_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    """Run the README's install commands in a clean copy of the repository.

    On a machine that cannot reach PyTorch's CPU index, ``HOPFIELD_TORCH_PIP_ARGS``
    replaces ``--index-url …/whl/cpu`` with other pip arguments that select the CPU
    wheel, e.g. ``"torch==2.13.0+cpu --find-links /opt/wheels"``.
    """
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    repo = tmp_path / "repo"
    for name in files:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    block = _install_block()
    replacement = os.environ.get("HOPFIELD_TORCH_PIP_ARGS")
    if replacement is not None:
        block = block.replace("--index-url https://download.pytorch.org/whl/cpu", replacement)
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(Path(sys.prefix)))
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=repo, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().splitlines()[-1] == f"hopfield {hopfield.__version__}"
    quick_start = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    python = repo / ".venv" / "bin" / "python"
    run = subprocess.run(
        [str(python), "-c", quick_start[0]], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-4000:]
