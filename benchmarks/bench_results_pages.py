"""Server-side time of the Evaluate, Dataset and Binary vs 10-class interactions (issue 9 rows).

Each repeat runs in a fresh Python process (a fresh server: no Streamlit or lru caches), opens
Home through streamlit_app.py as the real app does, then times with AppTest (the script run on
the server, not the browser's drawing):
  evaluate_first_open   switching from Home to Evaluate (fmnist_cnn, test split)
  evaluate_switch_split test -> validation
  dataset_switch_split  Dataset, test -> train
  dataset_stats_tab     Dataset, open the Class statistics tab
  binary_first_open     switching from Home to Binary vs 10-class (the shipped models)
With ``--no-cache`` the stored predictions are moved aside first (the old behaviour: every first
open calls the model), and put back afterwards.

    python benchmarks/bench_results_pages.py [--repeats 5] [--no-cache]
Prints one JSON object: medians and all samples in seconds, plus the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ONE = textwrap.dedent("""
    import json, time
    from streamlit.testing.v1 import AppTest
    def fresh():
        at = AppTest.from_file("streamlit_app.py", default_timeout=600); at.run(); return at
    def timed(at, fn):
        t = time.perf_counter(); fn(at); at.run()
        assert not at.exception, [e.stack_trace for e in at.exception]
        return time.perf_counter() - t
    out = {}
    at = fresh()
    out["evaluate_first_open"] = timed(at, lambda a: a.switch_page("pages/evaluate.py"))
    out["evaluate_switch_split"] = timed(at, lambda a: a.radio(key="eval_split").set_value("validation"))
    at = fresh()
    at.switch_page("pages/dataset.py"); at.run()
    out["dataset_switch_split"] = timed(at, lambda a: a.button_group(key="ds_split").set_value("train"))
    out["dataset_stats_tab"] = timed(at, lambda a: a.session_state.__setitem__("ds_tab", "Class statistics"))
    print("RESULT", json.dumps(out))
""")
BINARY = textwrap.dedent("""
    import json, time
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file("streamlit_app.py", default_timeout=600); at.run()
    t = time.perf_counter(); at.switch_page("pages/binary_study.py"); at.run()
    assert not at.exception, at.exception
    print("RESULT", json.dumps({"binary_first_open": time.perf_counter() - t}))
""")


def run(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(line[7:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-cache", action="store_true", help="move the stored predictions aside first")
    args = ap.parse_args()
    moved = []
    if args.no_cache:
        for p in (ROOT / "saved_models").glob("*.predictions.npz"):
            p.rename(p.with_suffix(".npz.bench-aside"))
            moved.append(p)
    samples: dict[str, list[float]] = {}
    try:
        for _ in range(args.repeats):
            for code in (ONE, BINARY):
                for k, v in run(code).items():
                    samples.setdefault(k, []).append(v)
                if args.no_cache:  # every repeat is a first open without stored predictions
                    for p in (ROOT / "saved_models").glob("*.predictions.npz"):
                        p.unlink()  # written by this repeat (the originals are set aside)
    finally:
        for p in moved:
            p.with_suffix(".npz.bench-aside").rename(p)
    print(
        json.dumps(
            {
                "cache": not args.no_cache,
                "repeats": args.repeats,
                "load_avg": os.getloadavg(),
                "median_s": {k: round(statistics.median(v), 3) for k, v in samples.items()},
                "samples_s": {k: [round(x, 3) for x in v] for k, v in samples.items()},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
