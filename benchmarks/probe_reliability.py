"""Issue 11's fault and bad-input probes, re-runnable: runs every case and writes the table into
RELIABILITY.md (between the ``probes:begin`` / ``probes:end`` markers), with the counts.

Run (4-10 minutes on 2 cores; keep it niced on a shared machine):
    nice -n 15 .venv/bin/python benchmarks/probe_reliability.py            # all cases, rewrites RELIABILITY.md
    .venv/bin/python benchmarks/probe_reliability.py --only 'cli.train--seed*'   # some cases, printed only
    .venv/bin/python benchmarks/probe_reliability.py --list                 # case ids by group

Each case is run for real (the CLI through ``cli.main`` in this process with its own copy of a
home, or a subprocess where a separate process matters: kills, races, the environment, a
private mount namespace for a full or read-only disk). Its "actual" column is what was
observed; "ok" is computed from the observations by the case's own check.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import platform
import re
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.probes.harness import REPO, Outcome, short

BEGIN, END = "<!-- probes:begin -->", "<!-- probes:end -->"


def all_cases():
    from benchmarks.probes import (
        cli_cases,
        cli_command_cases,
        cli_model_cases,
        env_cases,
        fault_cases,
        file_cases,
        keras_cases,
        kill_cases,
        serve_cases,
        store_cases,
        upload_cases,
        worker_cases,
    )

    # In the order of RELIABILITY.md's sections; each module's cases() gives one class of case.
    modules = (
        cli_cases,
        cli_command_cases,
        cli_model_cases,
        env_cases,
        upload_cases,
        file_cases,
        keras_cases,
        store_cases,
        kill_cases,
        fault_cases,
        worker_cases,
        serve_cases,
    )
    cases = [case for module in modules for case in module.cases()]
    ids = Counter(c.id for c in cases)
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        raise SystemExit(f"duplicate case ids: {dup[:5]}")
    return cases


def run_case(case) -> Outcome:
    t0 = time.monotonic()
    try:
        out = case.run()
    except Exception as exc:  # a probe that breaks is reported as such, never hidden
        out = Outcome(f"PROBE ERROR {type(exc).__name__}: {short(exc, 100)}", False)
        traceback.print_exc()
    out.seconds = time.monotonic() - t0
    return out


def cell(text) -> str:
    """One table cell: pipes escaped, and no control or line-separator character (they would break the
    row, and a NUL makes git call the file binary)."""
    text = str(text).replace("|", "\\|").replace("\n", "\\n")
    return re.sub(
        r"[\x00-\x1f\x7f\u2028\u2029]",
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}",
        text,
    )


def render(results, started: str, seconds: float) -> str:
    groups: dict[str, list] = {}
    for case, out in results:
        groups.setdefault(case.group, []).append((case, out))
    n = len(results)
    ok = sum(o.ok for _, o in results)
    tb = sum(o.traceback for _, o in results)
    lost = sum(o.data_lost for _, o in results)
    lines = [
        BEGIN,
        "",
        f"**Counts ({started}, {platform.node() or 'this machine'}, {seconds / 60:.1f} min):** {n} probes in "
        f"{len(groups)} groups; **{ok} as expected, {n - ok} not. Data lost: {lost}. Tracebacks: {tb}.**",
        "",
        "Regenerate: `nice -n 15 .venv/bin/python benchmarks/probe_reliability.py`; one case: "
        "`.venv/bin/python benchmarks/probe_reliability.py --only 'ID'`.",
        "",
        "| group | probes | as expected | not | tracebacks | data lost |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for g, rows in groups.items():
        k = sum(o.ok for _, o in rows)
        lines.append(
            f"| {g} | {len(rows)} | {k} | {len(rows) - k} | {sum(o.traceback for _, o in rows)} | "
            f"{sum(o.data_lost for _, o in rows)} |"
        )
    bad = [(c, o) for c, o in results if not o.ok]
    if bad:
        lines += ["", "### Not as expected", "", "| id | case | expected | actual |", "| --- | --- | --- | --- |"]
        lines += [f"| `{cell(c.id)}` | {cell(c.what)} | {cell(c.expected)} | {cell(o.actual)} |" for c, o in bad]
    for g, rows in groups.items():
        lines += [
            "",
            f"### {g}",
            "",
            "| id | case | expected | actual | ok | command |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| `{cell(c.id)}` | {cell(c.what)} | {cell(c.expected)} | {cell(o.actual)} | "
            f"{'yes' if o.ok else '**NO**'} | {cell(c.command)} |"
            for c, o in rows
        ]
    return "\n".join(lines + ["", END])


def write_report(text: str, path: Path) -> None:
    old = path.read_text() if path.exists() else f"# Reliability\n\n{BEGIN}\n{END}\n"
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + text + old[old.index(END) + len(END) :]
    else:
        new = old.rstrip() + "\n\n" + text + "\n"
    path.write_text(new)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", help="run only the cases whose id matches this glob (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the case ids and exit")
    ap.add_argument("--out", default=str(REPO / "RELIABILITY.md"))
    args = ap.parse_args(argv)
    cases = all_cases()
    if args.list:
        for c in cases:
            print(f"{c.group:40s} {c.id}")
        print(f"{len(cases)} cases")
        return 0
    if args.only:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, p) for p in args.only)]
    started, t0 = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), time.time()
    results = []
    for i, case in enumerate(cases, 1):
        out = run_case(case)
        results.append((case, out))
        flag = "ok " if out.ok else "BAD"
        print(f"[{i}/{len(cases)}] {flag} {case.id}: {short(out.actual, 140)} ({out.seconds:.1f} s)", flush=True)
    bad = [c.id for c, o in results if not o.ok]
    print(f"\n{len(results)} probes, {len(results) - len(bad)} as expected; not: {bad}")
    if not args.only:
        write_report(render(results, started, time.time() - t0), Path(args.out))
        print(f"wrote {args.out}")
    return 0 if not bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
