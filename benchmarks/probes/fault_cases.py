"""Probes of faults: races of real processes and deletion paths that point outside the home;
and the process helpers the kill, worker and serving probes share."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.probes.harness import REPO, Case, Outcome, fresh_home, short, temp_dir, tiny_model

PY = sys.executable


def _env(home: Path, **extra) -> dict:
    return {**os.environ, "FMNIST_HOME": str(home), "FMNIST_PREWARM_S": "0", "PYTHONPATH": str(REPO), **extra}


@contextlib.contextmanager
def _home_env(home: Path):
    old = os.environ.get("FMNIST_HOME")
    os.environ["FMNIST_HOME"] = str(home)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("FMNIST_HOME", None)
        else:
            os.environ["FMNIST_HOME"] = old


def sound_models(home: Path) -> tuple[bool, dict, str]:
    """Every listed model of the home loads and agrees with its metadata: (ok, name -> run_id, text)."""
    from fmnist_core.modeling import saving

    out, problems = {}, []
    with _home_env(home):
        for m in saving.list_models():
            if m.get("shipped") or m["name"] == "damaged":  # the template's own deliberately damaged file
                continue
            if "error" in m:
                problems.append(f"{m['name']}: {m['error']}")
                continue
            model, meta = saving.load_model(m["name"])
            if model.count_params() != meta["n_params"]:
                problems.append(f"{m['name']}: parameter count differs")
            out[m["name"]] = meta.get("run_id")
    return not problems, out, "; ".join(problems)


# ---------------------------------------------------------------- races (processes released together)

RACE_CREATE = (
    "import sys, time\nfrom fmnist_core.runs.store import RunStore, NameTakenError\n"
    "from fmnist_core.data.tasks import get_task\ns = RunStore(); time.sleep(max(0, float(sys.argv[1]) - time.time()))\n"
    "try:\n    s.create_run('x', get_task('multiclass'), [{'type': 'Flatten'}], {}, model_name='shared'); print('queued')\n"
    "except NameTakenError:\n    print('taken')\n"
)
RACE_CLAIM = (
    "import sys, time, os\nfrom fmnist_core.runs.store import RunStore\ns = RunStore()\n"
    "time.sleep(max(0, float(sys.argv[1]) - time.time()))\nr = s.claim_next(os.getpid()); print('claimed' if r else 'none')\n"
)
RACE_RENAME = (
    "import sys, time\nfrom fmnist_core.modeling import saving\n"
    "time.sleep(max(0, float(sys.argv[1]) - time.time()))\n"
    "try:\n    saving.rename_model('kept', 'twin'); print('renamed')\nexcept (ValueError, FileNotFoundError) as e:\n    print('refused')\n"
)


def _race(home, script, n) -> list[str]:
    start = time.time() + 3.0
    procs = [
        subprocess.Popen([PY, "-c", script, str(start)], env=_env(home), stdout=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    return sorted(p.communicate(timeout=120)[0].strip() for p in procs)


def race_cases() -> list[Case]:
    g = "Races"

    def create():
        home = fresh_home()
        outs = _race(home, RACE_CREATE, 10)
        return Outcome(
            f"{outs.count('queued')} queued, {outs.count('taken')} NameTakenError", outs == ["queued"] + ["taken"] * 9
        )

    def claim():
        home = fresh_home()
        from fmnist_core.data.tasks import get_task
        from fmnist_core.runs.store import RunStore

        s = RunStore(home / "runs.sqlite")
        s.create_run("q", get_task("multiclass"), [{"type": "Flatten"}], {})
        s.close()
        outs = _race(home, RACE_CLAIM, 6)
        return Outcome(f"{outs.count('claimed')} claimed, {outs.count('none')} found none", outs.count("claimed") == 1)

    def rename():
        home = fresh_home()
        outs = _race(home, RACE_RENAME, 4)
        ok_models, ids, problems = sound_models(home)
        good = outs.count("renamed") == 1 and ok_models and "twin" in ids and "kept" not in ids
        return Outcome(
            f"{outs.count('renamed')} renamed, {outs.count('refused')} refused; models sound: {ok_models}",
            good,
            data_lost="twin" not in ids and "kept" not in ids,
        )

    def two_savers():
        home = fresh_home()
        loop = (
            "import sys; from pathlib import Path; from benchmarks.probes.harness import tiny_model\n"
            "[tiny_model(Path(sys.argv[1]), 'both', run_id=int(sys.argv[2]) * 100 + i, source='run') for i in range(4)]\n"
        )
        procs = [subprocess.Popen([PY, "-c", loop, str(home), str(k)], env=_env(home)) for k in (1, 2)]
        codes = [p.wait(timeout=300) for p in procs]
        ok_models, ids, problems = sound_models(home)
        left = list(home.glob(".*.keras"))
        good = codes == [0, 0] and ok_models and ids.get("both") in (103, 203) and not left
        return Outcome(
            f"exits {codes}; 'both' holds run {ids.get('both')}'s model (a last save), sound: {ok_models}; "
            f"{len(left)} temp files left",
            good,
        )

    return [
        Case(
            "race.same-name-create",
            g,
            "10 processes create a run named 'shared' at the same instant",
            "exactly one queued",
            "see `RACE_CREATE` in benchmarks/probes/fault_cases.py",
            create,
        ),
        Case(
            "race.claim-one-run",
            g,
            "6 workers claim the one queued run at the same instant",
            "exactly one claims",
            "`RACE_CLAIM`",
            claim,
        ),
        Case(
            "race.rename-to-one-name",
            g,
            "4 processes rename 'kept' to 'twin' at the same instant",
            "one renames, the rest refused, nothing lost",
            "`RACE_RENAME`",
            rename,
        ),
        Case(
            "race.two-savers-one-name",
            g,
            "2 processes save 4 versions each of one model name, interleaved",
            "a whole model from one of the last saves; no temp files",
            "two `save_model` loops",
            two_savers,
        ),
    ]


# ---------------------------------------------------------------- deletion paths


def _outside() -> Path:
    d = temp_dir("probe_outside_")
    tiny_model(d, "victim")
    return d / "victim.keras"


def _tamper(home: Path, sql: str, *params):
    with contextlib.closing(sqlite3.connect(home / "runs.sqlite", isolation_level=None)) as conn:
        conn.execute(sql, params)


def deletion_cases() -> list[Case]:
    g = "Deletion paths"

    def run_in(fn, what_kept):
        def run() -> Outcome:
            from fmnist_core.runs.store import RunStore

            home, outside = fresh_home(), _outside()
            before = outside.read_bytes()
            error = None
            with _home_env(home):
                try:
                    fn(home, outside, RunStore(home / "runs.sqlite"))
                except (ValueError, PermissionError) as exc:
                    error = f"{type(exc).__name__}: {short(exc, 80)}"
            kept = outside.exists() and outside.read_bytes() == before
            ok_models, ids, _ = sound_models(home)
            stays = what_kept(home, ids)
            return Outcome(
                f"{error or 'done'}; outside file {'untouched' if kept else 'GONE'}; {stays[1]}",
                kept and stays[0] and ok_models,
                data_lost=not kept,
            )

        return run

    def copied(home, outside, store):
        copy = home.parent / "copy"
        shutil.copytree(home, copy)
        from fmnist_core.runs.store import RunStore

        RunStore(copy / "runs.sqlite").delete_run(1)

    cases = [
        (
            "copied-home",
            "copy a home, delete run 1 in the copy",
            copied,
            lambda h, ids: (ids.get("kept") == 1, "the original's 'kept' stays"),
        ),
        (
            "absolute-model-path",
            "run 1's stored model_path points outside the home; delete run 1",
            lambda h, o, s: (_tamper(h, "UPDATE runs SET model_path = ? WHERE id = 1", str(o)), s.delete_run(1)),
            lambda h, ids: ("kept" not in ids, "run 1's own model deleted, nothing else"),
        ),
        (
            "dotdot-model-path",
            "model_path '../outside.keras'; delete run 1",
            lambda h, o, s: (
                _tamper(h, "UPDATE runs SET model_path = ? WHERE id = 1", f"../{o.parent.name}/victim.keras"),
                s.delete_run(1),
            ),
            lambda h, ids: ("kept" not in ids, "run 1's own model deleted"),
        ),
        (
            "dotdot-model-name",
            "stored model_name '../<outside>/victim'; delete run 1",
            lambda h, o, s: (
                _tamper(h, "UPDATE runs SET model_name = ? WHERE id = 1", f"../{o.parent.name}/victim"),
                s.delete_run(1),
            ),
            lambda h, ids: (ids.get("kept") == 1, "'kept' stays (not named by the run)"),
        ),
        (
            "symlink-out",
            "a symlink 'evil.keras' in the home points to a model outside; delete model evil",
            lambda h, o, s: (
                os.symlink(o, h / "evil.keras"),
                __import__("fmnist_core.modeling.saving", fromlist=["x"]).delete_model("evil"),
            ),
            lambda h, ids: (not (h / "evil.keras").is_symlink(), "the link removed"),
        ),
        (
            "overwritten-since",
            "run 1's model was overwritten by run 9 since; delete run 1",
            lambda h, o, s: (tiny_model(h, "kept", run_id=9, source="run"), s.delete_run(1)),
            lambda h, ids: (ids.get("kept") == 9, "run 9's 'kept' stays"),
        ),
        (
            "running-run",
            "delete a running run",
            lambda h, o, s: (
                s.mark_running(
                    s.create_run(
                        "r",
                        __import__("fmnist_core.data.tasks", fromlist=["x"]).get_task("shoes"),
                        [{"type": "Flatten"}],
                        {},
                    ),
                    1,
                ),
                s.delete_run(2),
            ),
            lambda h, ids: (ids.get("kept") == 1, "refused, all kept"),
        ),
        (
            "someone-elses-model",
            "delete 'kept' as user:bob (it belongs to user:ann)",
            lambda h, o, s: (
                tiny_model(h, "kept", run_id=1, source="run", owner="user:ann"),
                __import__("fmnist_core.modeling.saving", fromlist=["x"]).delete_model("kept", owner="user:bob"),
            ),
            lambda h, ids: ("kept" in ids, "refused, kept stays"),
        ),
        (
            "shipped-model",
            "delete the shipped 'shoes_cnn' through the API",
            lambda h, o, s: __import__("fmnist_core.modeling.saving", fromlist=["x"]).delete_model("shoes_cnn"),
            lambda h, ids: ((REPO / "saved_models" / "shoes_cnn.keras").exists(), "shipped model stays"),
        ),
    ]
    return [
        Case(
            f"delete.{cid}",
            g,
            what,
            "nothing outside the home touched; only what was asked deleted",
            "see benchmarks/probes/fault_cases.py `deletion_cases`",
            run_in(fn, kept),
        )
        for cid, what, fn, kept in cases
    ]


def cases() -> list[Case]:
    return race_cases() + deletion_cases()
