"""The built wheel installs into a fresh virtual environment and works outside the repository."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from backend import once_per_suite

import keras_hem

REPO = Path(__file__).resolve().parents[1]
# What the wheel is built from; copied so that the build leaves no build/ folder in the repo.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "keras_hem")

# Run inside the fresh environment: where keras_hem comes from, its version, py.typed.
PROBE = """
import importlib.metadata, pathlib, sys, keras_hem
package = pathlib.Path(keras_hem.__file__).parent
print("version", keras_hem.__version__, importlib.metadata.version("keras-hem"))
print("in_venv", package.is_relative_to(sys.prefix))
print("py.typed", (package / "py.typed").is_file())
"""


def run(command, cwd, env=None, timeout=300):
    """Run a command, failing the test with its output on a non-zero exit; returns stdout."""
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def build_wheel(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, source / name)
    outdir = tmp_path / "dist"
    # --no-isolation: build with the installed setuptools (a dev dependency), download nothing.
    run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", outdir], cwd=source
    )
    (wheel,) = outdir.glob("keras_hem-*.whl")
    return wheel


def fresh_venv(path):
    """A venv that sees the running environment's packages (TensorFlow, ...) but not the repo.

    `--system-site-packages` would expose the *base* interpreter's packages, not those of the
    virtual environment CI runs in, so a `.pth` file appends this environment's site folders
    instead (after the venv's own; `.pth` files inside them, such as the editable install's
    finder, are not processed).
    """
    run([sys.executable, "-m", "venv", path], cwd=path.parent)
    python = path / ("Scripts" if os.name == "nt" else "bin") / "python"
    venv_site = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], path)
    folders = {p for p in sys.path if p.endswith("-packages") and Path(p).is_dir()}
    (Path(venv_site.strip()) / "outer_environment.pth").write_text("\n".join(sorted(folders)))
    return python


@pytest.mark.slow
@once_per_suite
def test_wheel_installs_and_runs_quickstart(tmp_path, movielens_dir):
    wheel = build_wheel(tmp_path)
    assert wheel.name.startswith(f"keras_hem-{keras_hem.__version__}-")
    python = fresh_venv(tmp_path / "venv")
    # --ignore-installed: the editable install of the outer environment must not count as
    # "already satisfied", and must not be uninstalled either.
    run([python, "-m", "pip", "install", "--no-deps", "--ignore-installed", wheel], tmp_path)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", KERAS_HEM_DATA=movielens_dir)
    probe = run([python, "-c", PROBE], elsewhere, env).split("\n")
    version = keras_hem.__version__
    assert probe[:3] == [f"version {version} {version}", "in_venv True", "py.typed True"]

    script = shutil.copy2(REPO / "examples" / "quickstart.py", elsewhere)
    out = run([python, script, "--smoke"], elsewhere, env)
    assert "Top 5 for user 42:" in out


def test_citation_version_matches_package():
    text = (REPO / "CITATION.cff").read_text(encoding="utf-8")
    assert re.search(r"^cff-version: 1\.2\.0$", text, re.M)
    assert re.search(rf"^version: {re.escape(keras_hem.__version__)}$", text, re.M)
    assert "doi: 10.1109/CBD51900.2020.00027" in text
