"""Fixtures for the cluster tests: a real PostgreSQL and a real two-node Ray cluster, started here.

The tests of this folder need a private network namespace (see cluster_harness). Outside one,
``test_cluster_suite.py`` re-runs this folder inside a fresh namespace; the tests themselves
then skip, so nothing ever talks to a non-loopback address.
"""

import os
import uuid

import pytest
from cluster_harness import Postgres, RayCluster, in_private_netns


def _inside():
    if not in_private_netns():
        pytest.skip("runs inside a private network namespace (test_cluster_suite.py starts one)")


@pytest.fixture(scope="session")
def pg_server():
    _inside()
    pg = Postgres()
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def ray_cluster():
    _inside()
    cluster = RayCluster(workers=1)
    try:
        cluster.start()
        yield cluster
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        cluster.stop()


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database on the session's server (one per test)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"host=127.0.0.1 port={pg_server.port} user=fmnist dbname=postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_server.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def cluster_env(pg_url, ray_cluster, fmnist_home, monkeypatch):
    """The app's configuration for the cluster: Ray executor, PostgreSQL store, its own model folder."""
    from fmnist_core.runs import jobs

    monkeypatch.setenv("FMNIST_EXECUTOR", "ray")
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster.address)
    monkeypatch.setenv("FMNIST_STORE_URL", pg_url)
    old = jobs.get_executor()
    jobs.set_executor(jobs.executor_from_env())
    yield {"store_url": pg_url, "home": fmnist_home, "ray": ray_cluster}
    jobs.set_executor(old)
    os.environ.pop("FMNIST_EXECUTOR", None)
