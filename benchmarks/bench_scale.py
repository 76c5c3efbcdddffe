"""Wall time for N small runs: one local worker (the default) vs a two-node Ray cluster.

Side by side in one process, alternating A, B, A, B... so both see the same machine load:
  A  local: FMNIST_MAX_WORKERS=1, the SQLite store, one ``python -m fmnist_core.runs.worker``;
  B  ray:   a real head + one worker node (``ray start``, --num-cpus 1 each), the store on a
            real PostgreSQL (initdb + pg_ctl in a temp folder), FMNIST_EXECUTOR=ray.
Each trial queues the same N runs (linear model, a real subset, a few epochs) and times from
the first submit to the last run finished. Every trial starts cold: a fresh local worker process
(it imports TensorFlow), and a fresh Ray cluster per Ray trial (its start is not timed), whose
worker processes import TensorFlow too.

Ray must talk over loopback only: the script re-runs itself inside a private network namespace
(``unshare -n``; needs root) and starts PostgreSQL and Ray there; all are stopped at the end.

Run: nice -n 5 .venv/bin/python benchmarks/bench_scale.py [--runs 8] [--trials 2]
Prints one line per trial, the medians and the ratio, with `uptime` before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "cluster")]

from cluster_harness import Postgres, RayCluster, can_make_netns, in_private_netns, run_in_netns  # noqa: E402

RUN = {"subset": 3000, "epochs": 3, "batch_size": 64}


def timed_batch(n: int) -> tuple[float, list[dict]]:
    """Queue ``n`` runs with the configured executor and store; seconds until all are finished."""
    from fmnist_core.runs import jobs
    from fmnist_core.runs.store import TERMINAL, RunStore

    store = RunStore()
    t0 = time.perf_counter()
    ids = [jobs.submit("linear", "multiclass", dict(RUN, seed=i), name=f"bench {i}", store=store) for i in range(n)]
    while True:
        jobs.refresh(store)
        runs = [store.get_run(i) for i in ids]
        if all(r["status"] in TERMINAL for r in runs):
            return time.perf_counter() - t0, runs
        time.sleep(0.25)


def trial(kind: str, n: int, pg: Postgres, cluster: RayCluster | None) -> float:
    from fmnist_core.runs import jobs

    home = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    env = {"FMNIST_HOME": str(home), "FMNIST_MAX_WORKERS": "1"}
    if kind == "ray":
        import psycopg

        db = f"bench_{os.getpid()}_{int(time.time() * 1000)}"
        with psycopg.connect(f"host=127.0.0.1 port={pg.port} user=fmnist dbname=postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {db}")
        env.update(
            FMNIST_EXECUTOR="ray", RAY_ADDRESS=cluster.address, FMNIST_STORE_URL=pg.url.rsplit("/", 1)[0] + f"/{db}"
        )
    else:
        env.update(FMNIST_EXECUTOR="local", FMNIST_STORE_URL="")
    os.environ.update(env)
    jobs.set_executor(jobs.executor_from_env())
    seconds, runs = timed_batch(n)
    bad = [(r["id"], r["status"], r["message"]) for r in runs if r["status"] != "completed"]
    if bad:
        raise RuntimeError(f"{kind}: runs did not complete: {bad}")
    nodes = {r.get("executor", "").split(":")[1] if r.get("executor") else "local" for r in runs}
    print(
        f"  {kind:5s} {seconds:6.1f} s for {n} runs (nodes used: {len(nodes)}, "
        f"mean train_seconds {statistics.mean(r['train_seconds'] for r in runs):.1f})",
        flush=True,
    )
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--trials", type=int, default=2)
    args = ap.parse_args()
    if not in_private_netns():
        why = can_make_netns()
        if why:
            print(f"cannot run: {why}", file=sys.stderr)
            return 2
        return run_in_netns([sys.executable, *sys.argv], env=dict(os.environ), cwd=ROOT, capture=False).returncode

    def uptime():
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    print(f"{platform.machine()}, {os.cpu_count()} CPUs; {args.runs} runs of linear multiclass {RUN}")
    print(f"uptime before: {uptime()}", flush=True)
    import ray

    pg = Postgres()
    times = {"local": [], "ray": []}
    try:
        pg.start()
        for _ in range(args.trials):
            times["local"].append(trial("local", args.runs, pg, None))
            cluster = RayCluster(workers=1)
            try:
                cluster.start()
                times["ray"].append(trial("ray", args.runs, pg, cluster))
            finally:
                if ray.is_initialized():
                    ray.shutdown()
                cluster.stop()
    finally:
        pg.stop()
    print(f"uptime after: {uptime()}")
    local, ray_ = statistics.median(times["local"]), statistics.median(times["ray"])
    print(f"median wall: 1 local worker {local:.1f} s, 2-node Ray {ray_:.1f} s, speed-up {local / ray_:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
