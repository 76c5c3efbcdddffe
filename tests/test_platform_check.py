"""The check that runs before pip (make venv) and before any import (python -m fmnist_core): one sentence
that says what to install on a Python or a machine where the pinned TensorFlow 2.21 has no wheel."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist_core import platform_check
from fmnist_core.platform_check import problem

ROOT = Path(__file__).resolve().parent.parent


def _one_sentence(text):
    assert text and "\n" not in text and text.endswith(".") and len(text) < 400
    return text


@pytest.mark.parametrize("python", platform_check.PYTHONS)
@pytest.mark.parametrize("system, machine", platform_check.PLATFORMS)
def test_supported_pythons_and_platforms_go_ahead(python, system, machine):
    assert problem(python, system, machine) is None


@pytest.mark.parametrize("python", [(3, 14), (3, 15), (3, 10), (3, 9), (2, 7)])
def test_another_python_is_told_which_to_install(python):
    why = _one_sentence(problem(python, "Linux", "x86_64"))
    assert f"needs Python 3.11, 3.12 or 3.13, not {python[0]}.{python[1]}" in why
    assert "make venv PYTHON=python3.13" in why and "py -3.13 -m venv .venv" in why


def test_an_intel_mac_is_told_where_the_lab_runs():
    why = _one_sentence(problem((3, 12), "Darwin", "x86_64"))
    assert "no wheel for Intel Macs" in why and "Docker Desktop" in why


def test_an_intel_python_under_rosetta_is_told_to_install_an_arm64_one():
    why = _one_sentence(problem((3, 12), "Darwin", "x86_64", rosetta=True))
    assert "Rosetta" in why and "arm64 Python 3.13" in why


def test_a_32_bit_python_is_told_to_install_the_64_bit_one():
    assert "64-bit Python 3.13" in _one_sentence(problem((3, 12), "Windows", "AMD64", bits=32))


@pytest.mark.parametrize("system, machine", [("Windows", "ARM64"), ("Linux", "armv7l"), ("FreeBSD", "amd64"), ("", "")])
def test_another_machine_is_told_the_platforms_that_work(system, machine):
    why = _one_sentence(problem((3, 12), system, machine))
    assert "Linux (x86_64 or aarch64), Windows (64-bit x86) or an Apple Silicon Mac" in why


def test_this_machine_goes_ahead():
    # The suite runs on a supported Python and platform (the platform test resolves the others).
    assert platform_check.this_machine() is None


def test_the_exit_is_the_sentence_and_code_1(monkeypatch, capsys):
    monkeypatch.setattr(platform_check.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(platform_check.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(platform_check, "_rosetta", lambda system, machine: False)
    with pytest.raises(SystemExit) as exited:
        platform_check.exit_if_unsupported()
    assert exited.value.code == 1
    assert capsys.readouterr().err == "error: " + problem((3, 12), "Darwin", "x86_64") + "\n"


def test_the_command_line_without_the_requirements_says_to_install_them():
    # As on a Python where `pip install -r requirements.txt` was never run: one line, no traceback.
    code = (
        "import runpy, sys; sys.modules['sqlalchemy'] = None; sys.argv = ['fmnist_core', 'app', '-h']; "
        "runpy.run_module('fmnist_core', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "pip install -r requirements.txt" in done.stderr
