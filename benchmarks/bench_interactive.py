"""Interactive speed of the app in a real browser: every row of the interactive-speed issue's table.

Starts one `streamlit run` server on a free loopback port with an empty $FMNIST_HOME (the
shipped models stay visible), drives Debian's Chromium through Playwright and times what a
user waits for. Selectors use visible text, labels, widget keys (Streamlit's ``st-key-<key>``
classes) and data-testid, so the script keeps working while the pages change; a row whose
page no longer has what it looks for is reported as an error, and the other rows still run.

Rows (``--rows`` takes a comma-separated subset; default: all):
  classify        stroke on the canvas -> the new prediction's caption shows   (median and p90)
  classify_first  open Classify in a new tab, first stroke -> prediction
  fewshot         first open / switch task / k-shot curve (until the page is idle again)
  binary          Binary vs 10-class, first open
  evaluate        first open / switch split
  lrfinder        LR Finder on fmnist_net (or --lr-preset): click -> the page is idle with a result
  dataset         switch split / class statistics tab
  train_first     Build & Train: Train click -> the first batch point is drawn
  stop            Stop training click -> the run is shown as stopped
  watch           one training run watched on Build & Train vs one nobody watches, side by side
                  in this run (alternating), and the server's CPU while watching; the watched run
                  is opened in a fresh page once it has been submitted (someone else's run)
  watch_train     the same, for a run started with Build & Train's Train button: the page stays on
                  it (watched) or goes to about:blank right after the click (unwatched)

"First open" is a new browser context on the same server: the first repeat is the cold one
(nothing cached in the server yet) and is printed apart from the median of the rest.
Training rows use fewer repeats (--train-repeats, default 2) and small runs; they say so.

Run: nice -n 5 .venv/bin/python benchmarks/bench_interactive.py [--rows classify,classify_first]
     [--repeats 5] [--train-repeats 2] [--watch-epochs 2]
Prints one line per measurement and a table of medians; copy it into BENCHMARKS.md with
the date, the machine and `uptime`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import interactive_rows  # benchmarks/interactive_rows.py: the script's own folder is on sys.path
import interactive_training_rows
import profiles  # noqa: E402 - benchmarks/profiles.py; the script's own folder is on sys.path
from interactive_browser import CHROMIUM, CHROMIUM_ARGS, Server, new_page, settle
from interactive_training_rows import WATCH_ARGS

ALL_ROWS = [
    "classify",
    "classify_first",
    "fewshot",
    "binary",
    "evaluate",
    "lrfinder",
    "dataset",
    "train_first",
    "stop",
    "watch",
    "watch_train",
]


# Each row is ``row_<name>(ctx)`` in one of the two row modules.
ROWS = {
    name: getattr(interactive_rows, f"row_{name}", None) or getattr(interactive_training_rows, f"row_{name}")
    for name in ALL_ROWS
}


# ---------------------------------------------------------------- main


def summary(values: list[float]) -> str:
    if not values:
        return "no value"
    v = sorted(values)
    med = statistics.median(v)
    p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
    return f"median {med:8.3f}   p90 {p90:8.3f}   min {v[0]:8.3f}   max {v[-1]:8.3f}   n {len(v)}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default=",".join(ALL_ROWS), help=f"comma-separated subset of {', '.join(ALL_ROWS)}")
    ap.add_argument("--repeats", type=int, default=5, help="repeats per interactive row (>= 5 for the record)")
    ap.add_argument("--train-repeats", type=int, default=2, help="repeats for the training rows")
    ap.add_argument("--watch-epochs", type=int, default=2, help="epochs of the watch rows' runs")
    ap.add_argument(
        "--home", default=None, help="the server's FMNIST_HOME (kept, with worker logs); default a temp dir"
    )
    ap.add_argument(
        "--lr-preset", default="fmnist_net", help="the preset of the lrfinder row (the default preset: quick)"
    )
    profiles.add_argument(ap)
    args = ap.parse_args(argv)
    profiles.apply(args.profile)  # inherited by the server and its workers (Server copies os.environ)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        ap.error(f"unknown rows {unknown}; choose from {', '.join(ALL_ROWS)}")
    from playwright.sync_api import sync_playwright

    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {platform.node()}  {os.cpu_count()} CPUs  "
        f"profile {args.profile}  "
        f"load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )
    results: dict[str, list[float] | str] = {}
    with tempfile.TemporaryDirectory(prefix="bench_home_") as tmp_home:
        home = Path(args.home) if args.home else Path(tmp_home)
        home.mkdir(parents=True, exist_ok=True)
        server = Server(home)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                bctx, page = new_page(browser)
                page.goto(server.url)
                settle(page)
                WATCH_ARGS[WATCH_ARGS.index("--epochs") + 1] = str(args.watch_epochs)
                ctx = {
                    "url": server.url,
                    "browser": browser,
                    "page": page,
                    "server": server,
                    "repeats": args.repeats,
                    "train_repeats": args.train_repeats,
                    "lr_preset": args.lr_preset,
                }
                for row in rows:
                    t0 = time.monotonic()
                    try:
                        for label, values in ROWS[row](ctx).items():
                            results[label] = values
                            print(f"{label:<60} {' '.join(f'{v:.3f}' for v in values)}", flush=True)
                    except Exception as exc:  # noqa: BLE001 - one page's change must not stop the other rows
                        results[f"{row} (error)"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                        print(f"{row}: ERROR {results[f'{row} (error)']}", flush=True)
                        bctx.close()
                        bctx, page = new_page(browser)
                        ctx["page"] = page
                    print(f"  ({row}: {time.monotonic() - t0:.0f} s, load {os.getloadavg()[0]:.2f})", flush=True)
                bctx.close()
                browser.close()
        finally:
            server.stop()
    print(f"\n# seconds (ratios and CPU shares as numbers); load at the end {os.getloadavg()[0]:.2f}")
    for label, values in results.items():
        print(f"{label:<60} {values if isinstance(values, str) else summary(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
