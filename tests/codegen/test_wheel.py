"""The wheel as a user installs it: build it, install it with its ``codegen`` extra into a fresh
virtual environment, run the ``flext-api`` script there and import what it generated.

An editable install would hide packaging mistakes (a module left out of the wheel, an import
of the repository folder name ``codegen``, a formatter the extra does not install), so nothing
here runs from the checkout: the subprocesses get no PYTHONPATH and run outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.codegen.openapi.conftest import SPECS

ROOT = Path(__file__).resolve().parents[2]

# Imports every public module of flext_api (no path component starting with "_") and reads
# every name its __all__ lists; prints where flext_api came from, the modules and the names.
# The pytest plugin is the one exception: pytest loads it through the wheel's ``pytest11``
# entry point, and the wheel does not (and must not) require pytest.
PYTEST_PLUGIN = "flext_api.testing.pytest_plugin"
PUBLIC_NAMES_PROBE = f"""
import importlib, pkgutil, flext_api
modules = ["flext_api"] + [
    info.name for info in pkgutil.walk_packages(flext_api.__path__, "flext_api.")
    if not any(part.startswith("_") for part in info.name.split("."))
    and info.name != "{PYTEST_PLUGIN}"
]
names = 0
for name in modules:
    module = importlib.import_module(name)
    for attribute in getattr(module, "__all__", ()):
        getattr(module, attribute)
        names += 1
print(flext_api.__file__, len(modules), names)
"""


def _run(
    args: list[str], cwd: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    if check:
        assert done.returncode == 0, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_installed_wheel_generates_an_importable_package(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    wheels = tmp_path / "wheels"
    _run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--quiet", "--wheel-dir", str(wheels), str(ROOT)),
        ],
        tmp_path,
        env,
    )
    (wheel,) = wheels.glob("flext_api-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "flext_api_codegen/openapi/generate.py" in names
    assert "flext_api_codegen/templates/README.md" in names
    assert not [n for n in names if n.startswith("codegen/")]  # no generic top-level name
    assert "flext_api_codegen/unasync.py" not in names  # a development tool of this repository
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    entry_text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert f"[pytest11]\nflext_api = {PYTEST_PLUGIN}" in entry_text

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    bin_dir = venv / "bin"
    _run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", f"{wheel}[codegen]"],
        tmp_path,
        env,
    )
    # Only the venv on PATH: the script must find its formatter in its own environment.
    env["PATH"] = str(bin_dir)
    user = tmp_path / "project"
    user.mkdir()
    shutil.copy(SPECS / "petstore.yaml", user / "petstore.yaml")

    shown = _run([str(bin_dir / "flext-api"), "--help"], user, env).stdout
    assert shown.startswith("usage: flext-api") and "unasync" not in shown
    shown = _run([str(bin_dir / "python"), "-m", "flext_api_codegen", "--help"], user, env).stdout
    assert "generate" in shown and "unasync" not in shown

    generate = [str(bin_dir / "flext-api"), "generate", "openapi", "petstore.yaml"]
    done = _run([*generate, "--out", "sdk", "--package", "petshop"], user, env)
    assert "wrote sdk/petshop" in done.stderr and "notice" not in done.stderr
    assert (user / "sdk" / "pyproject.toml").is_file()
    probe = (
        "import flext_api, petshop, petshop.client as c; "
        "from petshop import Pet; "
        "print(flext_api.__file__); print(c.__file__); "
        "print(Pet.__name__, sorted(n for n in dir(c) if n.endswith('Client')))"
    )
    lines = _run([str(bin_dir / "python"), "-c", probe], user / "sdk", env).stdout.splitlines()
    assert lines[0].startswith(str(venv))  # the installed flext_api, not the checkout's
    assert lines[1] == str(user / "sdk" / "petshop" / "client.py")
    assert lines[2].startswith("Pet [") and "Client" in lines[2]
    formatted = (user / "sdk" / "petshop" / "client.py").read_text()
    lint = [str(bin_dir / "ruff"), "format", "--check", "--quiet", "petshop"]
    assert _run(lint, user / "sdk", env).returncode == 0, formatted[:200]
    assert (
        "No module named 'codegen'"
        in _run([str(bin_dir / "python"), "-c", "import codegen"], user, env, check=False).stderr
    )

    # Every public name of every public module imports from the installed wheel, extras
    # included: a module left out of the wheel, or a name in __all__ that is not there, fails.
    extras = f"{wheel}[codegen,fastapi,graphql,trio,compression,otel]"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", extras], tmp_path, env)
    public = _run([str(bin_dir / "python"), "-c", PUBLIC_NAMES_PROBE], user, env).stdout.split()
    assert public[0].startswith(str(venv))
    assert int(public[1]) >= 20 and int(public[2]) >= 250, public  # modules, names

    # Without ruff the package is still written, unformatted, with a one-line notice.
    _run([str(bin_dir / "python"), "-m", "pip", "uninstall", "--yes", "--quiet", "ruff"], user, env)
    done = _run([*generate, "--out", "raw", "--package", "petshop", "--quiet"], user, env)
    assert done.stderr == (
        "notice: ruff was not found, so the package is written unformatted "
        "(pip install 'flext-api[codegen]' installs it)\n"
    )
    assert (user / "raw" / "petshop" / "client.py").is_file()
    # Without the extra at all: one line that names the fix, and nothing written.
    _run(
        [str(bin_dir / "python"), "-m", "pip", "uninstall", "--yes", "--quiet", "pyyaml"], user, env
    )
    done = _run([*generate, "--out", "none", "--package", "petshop"], user, env, check=False)
    assert done.returncode == 1
    assert done.stderr == (
        "error: the code generator needs yaml: pip install 'flext-api[codegen]'\n"
    )
    assert not (user / "none").exists()
