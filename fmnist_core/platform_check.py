"""Can this Python install the lab? If not, one sentence that says what to install, before pip runs.

``make venv`` runs it (``python3 -m fmnist_core.platform_check``) with the Python it is about to make the
venv from, and ``python -m fmnist_core`` runs it before importing anything that needs the requirements.
So it is standard library only, and plain enough for old Pythons to parse: its whole job is to speak on the
interpreters that cannot install the pinned TensorFlow 2.21 (Python 3.14, 3.10, 3.9; an Intel Mac).

The platforms here are the environment markers of requirements.txt (tests/test_requirements.py checks
that they agree); tests/test_platforms.py resolves the requirements for each of them.
"""

import platform
import struct
import subprocess
import sys

PYTHONS = ((3, 11), (3, 12), (3, 13))
# (platform.system(), platform.machine()) where TensorFlow 2.21 has a wheel: tensorflow-cpu on the first two,
# tensorflow on the others (requirements.txt).
PLATFORMS = (("Linux", "x86_64"), ("Windows", "AMD64"), ("Darwin", "arm64"), ("Linux", "aarch64"))
GET_PYTHON = "https://www.python.org/downloads/"


def problem(version, system, machine, bits=64, rosetta=False):
    """None when the lab installs here, else the one sentence that says what to install instead.

    ``version``: (major, minor); ``system``, ``machine``: as ``platform.system()`` and ``platform.machine()``
    print them; ``bits``: the interpreter's pointer size; ``rosetta``: an x86_64 Python translated by
    Rosetta on an Apple Silicon Mac.
    """
    version = tuple(version[:2])
    if version not in PYTHONS:
        return (
            "Fashion-MNIST Lab needs Python 3.11, 3.12 or 3.13, not %d.%d (its pinned TensorFlow 2.21 has "
            "wheels for 3.10 to 3.13, NumPy 2.4 for 3.11 and later): install Python 3.13 (%s, or "
            "`pyenv install 3.13`) and make the venv with it: `make venv PYTHON=python3.13`, or "
            "`python3.13 -m venv .venv` (Windows: `py -3.13 -m venv .venv`)." % (version + (GET_PYTHON,))
        )
    if bits != 64:
        return (
            "Fashion-MNIST Lab needs a 64-bit Python (TensorFlow has no %d-bit wheels): install the 64-bit "
            "Python 3.13 from %s and make the venv with it." % (bits, GET_PYTHON)
        )
    if rosetta:
        return (
            "This Python is an Intel (x86_64) build running under Rosetta, and TensorFlow 2.21 has no "
            "Intel-Mac wheel: install an arm64 Python 3.13 (%s, universal2, or Homebrew's "
            "/opt/homebrew/bin/python3.13) and make the venv with it." % GET_PYTHON
        )
    if (system, machine) in PLATFORMS:
        return None
    if system == "Darwin":
        return (
            "TensorFlow 2.21 has no wheel for Intel Macs (macOS x86_64; the last one was TensorFlow 2.16): "
            "run the lab on an Apple Silicon Mac, on Linux or Windows, or on this Mac inside a Linux "
            "container (install Docker Desktop and use the python:3.13 image)."
        )
    return (
        "TensorFlow 2.21 has no wheel for %s %s: run the lab on Linux (x86_64 or aarch64), Windows "
        "(64-bit x86) or an Apple Silicon Mac." % (system or "this system", machine or "(unknown machine)")
    )


def _rosetta(system, machine):
    """True for an x86_64 process translated by Rosetta 2 (macOS says so in sysctl.proc_translated)."""
    if system != "Darwin" or machine != "x86_64":
        return False
    try:
        out = subprocess.run(
            ["sysctl", "-n", "sysctl.proc_translated"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            universal_newlines=True,
            timeout=5,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return out.strip() == "1"


def this_machine():
    """``problem``'s verdict for the running interpreter."""
    system, machine = platform.system(), platform.machine()
    return problem(sys.version_info[:2], system, machine, struct.calcsize("P") * 8, _rosetta(system, machine))


def exit_if_unsupported():
    """Exit with the sentence (code 1) on an interpreter that cannot install the lab; nothing otherwise."""
    why = this_machine()
    if why:
        sys.stderr.write("error: " + why + "\n")
        raise SystemExit(1)


def exit_missing_requirements(exc):
    """A supported Python without the requirements (no venv made, or not the venv's Python): say so."""
    sys.stderr.write(
        "error: %s: the lab's requirements are not installed for this Python (%s); install them "
        "with `%s -m pip install -r requirements.txt`, or use the venv's Python "
        "(.venv/bin/python, on Windows .venv\\Scripts\\python).\n"
        % (exc, sys.executable, "python" if sys.platform == "win32" else "python3")
    )
    raise SystemExit(1)


if __name__ == "__main__":
    if set(sys.argv[1:]) & {"-h", "--help"}:
        print(
            "usage: python -m fmnist_core.platform_check\n\nSays in one sentence whether this Python and "
            "computer can run the lab (before pip runs), and what to install if not; exit 1 if not."
        )
        sys.exit(0)
    exit_if_unsupported()
    print("Python %d.%d on %s %s: supported." % (sys.version_info[:2] + (platform.system(), platform.machine())))
