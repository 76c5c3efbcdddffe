"""The requirements install on the machines students have: pip resolves them, wheels only, without
installing anything, for macOS arm64, Windows amd64, and Linux x86_64 and aarch64, each with Python 3.11,
3.12 and 3.13 (``pip install --dry-run --only-binary=:all: --platform ... --python-version ...``).

Resolved: requirements.txt, with the optional requirements-umap.txt and requirements-test.txt (a student's
laptop runs the tests and the UMAP map too); not requirements-cluster.txt (Ray on the Linux servers only).

pip evaluates environment markers for the machine it runs on, whatever ``--platform`` says, so the lists
are handed to it already filtered by their markers for the target (packaging's evaluation, as pip does
there). Markers inside the packages' own dependencies are still evaluated for this Linux machine: a
dependency that only one other platform pulls in is the one thing this test cannot see.

It needs the package index, which CI has; without it the test is skipped with one line saying so. The twelve
resolutions run side by side, and a success is remembered for a day (CACHE below).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from fmnist_core import platform_check
from requirements_files import applies, marker_env, read_requirements

FILES = ("requirements.txt", "requirements-umap.txt", "requirements-test.txt")
# A case that resolved within a day, with the same pip, index, flags and pins, is not asked again: this
# index sends no caching headers, so pip's own HTTP cache keeps nothing, and each case costs seconds of CPU
# parsing index pages (about a minute for all twelve on 2 cores). Failures are never stored.
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fmnist-lab" / "platform-resolutions"
CACHE_FRESH_S = 24 * 3600
GLIBC = 27  # manylinux_2_27: the oldest glibc TensorFlow 2.21's aarch64 wheel accepts (Ubuntu 18.04 and later)


def _manylinux(arch: str) -> list[str]:
    """glibc 2.27 down to 2.17 by name; pip adds manylinux2010/1 to manylinux2014 for x86_64 itself."""
    return [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC, 16, -1)] + [f"manylinux2014_{arch}"]


# name: (platform.system(), platform.machine(), pip's --platform tags). For macOS pip adds the older
# releases (11-13) and universal2 to the tag it is given.
TARGETS = {
    "macos-arm64": ("Darwin", "arm64", ["macosx_14_0_arm64"]),
    "windows-amd64": ("Windows", "AMD64", ["win_amd64"]),
    "linux-x86_64": ("Linux", "x86_64", _manylinux("x86_64")),
    "linux-aarch64": ("Linux", "aarch64", _manylinux("aarch64")),
}
CASES = [(target, f"{major}.{minor}") for target in TARGETS for major, minor in platform_check.PYTHONS]


@cache
def _index_url() -> str:
    """The index pip is configured with (PIP_INDEX_URL, a pip.conf), else PyPI's."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, _, value = line.partition("=")
        if name.endswith(".index-url"):
            return value.strip("'\"")
    return "https://pypi.org/simple/"


@cache
def _unreachable() -> str:
    """Why the index cannot be reached; empty when it can."""
    url = _index_url().rstrip("/") + "/pip/"
    try:
        with urllib.request.urlopen(url, timeout=15) as reply:
            reply.read(1)
    except OSError as exc:
        return f"the package index {url} cannot be reached ({exc})"
    return ""


def _resolve(target: str, python: str, workdir) -> dict:
    """pip's dry run for one platform and Python: its exit code, its messages, and what it would install."""
    system, machine, tags = TARGETS[target]
    env = marker_env(system, machine, tuple(int(p) for p in python.split(".")))
    wanted = [req for name in FILES for req in read_requirements(name) if applies(req, env)]
    listed = "".join(f"{req.name}{req.specifier}\n" for req in wanted)
    # fast-deps: pip reads each wheel's METADATA by HTTP range requests. Without it, an index that serves no
    # separate metadata files (PEP 658) makes pip download every wheel, ~400 MB a case.
    args = [
        "--dry-run",
        "--ignore-installed",
        "--only-binary=:all:",
        *(arg for tag in tags for arg in ("--platform", tag)),
        "--python-version",
        python,
        "--implementation",
        "cp",
        "--use-feature=fast-deps",
        "--quiet",
        "--no-input",
        "--disable-pip-version-check",
        "--timeout",
        "60",
        "--retries",
        "2",
    ]
    stored = CACHE / (
        hashlib.sha256(repr((version("pip"), _index_url(), args, listed)).encode()).hexdigest()[:32] + ".json"
    )
    if stored.is_file() and time.time() - stored.stat().st_mtime < CACHE_FRESH_S:
        return {"code": 0, "messages": "", "wanted": wanted, "installs": json.loads(stored.read_text())}
    folder = workdir / f"{target}-py{python}"
    folder.mkdir()
    (folder / "requirements.txt").write_text(listed)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            *args,
            "--target",
            str(folder / "target"),
            "--report",
            str(folder / "report.json"),
            "-r",
            str(folder / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Missing pages of the extra local indexes some machines configure, and fast-deps' warning, are noise.
    messages = "\n".join(
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "is ignored" not in line and "fast-deps" not in line
    )
    installs = []
    if done.returncode == 0:
        installs = [
            {
                "name": item["metadata"]["name"],
                "version": item["metadata"]["version"],
                "url": item["download_info"]["url"],
            }
            for item in json.loads((folder / "report.json").read_text())["install"]
        ]
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = stored.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(installs))
        partial.replace(stored)
    return {"code": done.returncode, "messages": messages, "wanted": wanted, "installs": installs}


@pytest.fixture(scope="module")
def resolutions(request, tmp_path_factory):
    """The dry runs of every case this session runs, started together on first use."""
    if _unreachable():
        pytest.skip(f"{_unreachable()}: this test asks it which wheels other platforms would get")
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec")
    ]
    workdir = tmp_path_factory.mktemp("platforms")
    pool = ThreadPoolExecutor(max_workers=len(selected) or 1)
    futures = {case: pool.submit(_resolve, *case, workdir) for case in dict.fromkeys(selected)}
    yield futures
    pool.shutdown(cancel_futures=True)


# The first case waits for all twelve (they run together): on a loaded 2-core machine, minutes.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", CASES, ids=[f"{target}-py{python}" for target, python in CASES])
def test_requirements_resolve_to_wheels(resolutions, case):
    result = resolutions[case].result()
    target, python = case
    assert result["code"] == 0, f"pip found no wheels for {target}, Python {python}:\n{result['messages'][-3000:]}"
    got = {canonicalize_name(item["name"]): item for item in result["installs"]}
    for req in result["wanted"]:
        item = got.get(canonicalize_name(req.name))
        assert item is not None and req.specifier.contains(item["version"]), f"{req} not resolved"
    assert all(item["url"].endswith(".whl") for item in result["installs"])
    tensorflow = "tensorflow-cpu" if TARGETS[target][1] in ("x86_64", "AMD64") else "tensorflow"
    assert tensorflow in got and not {"tensorflow", "tensorflow-cpu"} - {tensorflow} & set(got)
