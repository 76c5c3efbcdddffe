"""Runs the cluster tests of this folder inside a private network namespace (``unshare -n``, only
loopback up), where PostgreSQL, Ray and the app all talk over 127.0.0.1. Part of `make test`."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest
from cluster_harness import can_make_netns, in_private_netns, run_in_netns

pytestmark = pytest.mark.cluster
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


# The one test above pytest.ini's 300 s: it runs this whole folder (each test there has the 300 s
# limit of its own), bounded by run_in_netns's 780 s.
@pytest.mark.timeout(800)
def test_cluster_suite_in_a_private_network_namespace():
    if in_private_netns():
        pytest.skip("already inside a private namespace: the tests of this folder run directly")
    why = can_make_netns()
    if why:
        pytest.skip(why)
    missing = [m for m in ("ray", "psycopg", "sqlalchemy") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)}: pip install -r requirements-cluster.txt")
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=-ra",
        "-m",
        "cluster",
        "-k",
        "not test_cluster_suite_in",
        str(HERE),
    ]
    result = run_in_netns(argv, env=dict(os.environ), timeout=780, cwd=REPO)
    print(result.stdout[-20000:])
    assert result.returncode == 0, result.stdout[-6000:]
    last = result.stdout.strip().splitlines()[-1]
    assert " passed" in last and "skipped" not in last and "failed" not in last, last
