"""The project's requirement lists, read as data, for the tests that check them: requirements*.txt,
pyproject.toml, and the environment markers of each supported platform."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# pyproject's optional extras and the requirements file each one mirrors.
EXTRA_FILES = {"cluster": "requirements-cluster.txt", "umap": "requirements-umap.txt", "test": "requirements-test.txt"}
SYS_PLATFORM = {"Linux": "linux", "Windows": "win32", "Darwin": "darwin"}


def read_requirements(name: str) -> list[Requirement]:
    """The requirements of one file (no pip options or includes: these files hold only pins)."""
    reqs = []
    for line in (ROOT / name).read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            reqs.append(Requirement(line))
    return reqs


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def key(req: Requirement) -> tuple[str, str, str]:
    """What two lists must agree on: the name, the version pin and the marker."""
    return canonicalize_name(req.name), str(req.specifier), str(req.marker or "")


def marker_env(system: str, machine: str, python: tuple[int, int]) -> dict[str, str]:
    """PEP 508 marker values of a CPython ``python`` on (platform.system(), platform.machine())."""
    version = f"{python[0]}.{python[1]}"
    return {
        "sys_platform": SYS_PLATFORM.get(system, system.lower()),
        "platform_system": system,
        "platform_machine": machine,
        "os_name": "nt" if system == "Windows" else "posix",
        "python_version": version,
        "python_full_version": version + ".0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


def applies(req: Requirement, env: dict[str, str]) -> bool:
    return req.marker is None or req.marker.evaluate(env)
