"""Probes of faults: kills during saves and deletes, races of real processes, deletion paths that
point outside the home, paused, killed and fenced workers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
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


SAVE = (
    "import sys; from pathlib import Path; from benchmarks.probes.harness import tiny_model\n"
    "tiny_model(Path(sys.argv[1]), sys.argv[2], run_id=int(sys.argv[3]), source='run')\n"
)


def kill_case(step: str, overwrite: bool) -> Case:
    def run() -> Outcome:
        from fmnist_core.modeling import saving

        home = fresh_home()
        name = "kept" if overwrite else "newone"
        proc = subprocess.run(
            [PY, "-c", SAVE, str(home), name, "7"],
            env=_env(home, FMNIST_FAULT_AT=step),
            capture_output=True,
            text=True,
            timeout=300,
        )
        killed = proc.returncode == -signal.SIGKILL
        ok_models, ids, problems = sound_models(home)
        want = {"keras_written": None, "staged": None, "published": 7}[step]  # the old model (or none) until the rename
        got = ids.get(name)
        if overwrite and want is None:
            want = 1
        whole = got == want
        temps = sorted(p.name for p in home.glob(".*.keras"))
        cleaned = saving.clean_stale_temps(home)
        left = sorted(p.name for p in home.glob(".*.keras"))
        ok = killed and ok_models and whole and not left
        holds = f"run {got}'s model" if name in ids else "no model"
        text = (
            f"{'killed' if killed else f'exit {proc.returncode}'}; {name!r} holds {holds}; every listed model "
            f"loads {'and matches' if ok_models else 'NO: ' + problems}; {len(temps)} temp file(s), "
            f"{len(cleaned)} removed by the next worker's cleanup, {len(left)} left"
        )
        return Outcome(text, ok, data_lost=overwrite and got is None)

    what = f"SIGKILL at `{step}` while saving {'over an existing model' if overwrite else 'a new model'}"
    exp = (
        "the new model whole" if step == "published" else "the old model whole" if overwrite else "no model"
    ) + "; all listed models load and match; temp cleaned"
    return Case(
        f"kill.{step}.{'overwrite' if overwrite else 'new'}",
        "Kills during a save or delete",
        what,
        exp,
        f"`FMNIST_FAULT_AT={step} python -c 'saving.save_model(...)'`",
        run,
    )


def kill_delete_case(via: str) -> Case:
    code = {
        "model": "from fmnist_core.modeling import saving; saving.delete_model('kept')",
        "run": "from fmnist_core.runs.store import RunStore; RunStore().delete_run(1)",
    }[via]

    def run() -> Outcome:
        home = fresh_home()
        proc = subprocess.run(
            [PY, "-c", code],
            env=_env(home, FMNIST_FAULT_AT="before_delete"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        ok_models, ids, problems = sound_models(home)
        ok = proc.returncode == -signal.SIGKILL and ok_models and ids.get("kept") == 1
        return Outcome(
            f"exit {proc.returncode}; kept {'whole' if ids.get('kept') == 1 else 'GONE or damaged'}"
            f"{'' if ok_models else '; ' + problems}",
            ok,
        )

    return Case(
        f"kill.before_delete.{via}",
        "Kills during a save or delete",
        f"SIGKILL inside `delete {via}`, before the unlink",
        "the model whole (a delete is one unlink)",
        f"`FMNIST_FAULT_AT=before_delete python -m fmnist_core delete {via} ...`",
        run,
    )


LOOP = (
    "import sys; from pathlib import Path; from benchmarks.probes.harness import tiny_model\n"
    "home = Path(sys.argv[1]); tiny_model(home, 'victim', run_id=0, source='run'); print('ready', flush=True)\n"
    "for i in range(1, 10000): tiny_model(home, 'victim', run_id=i, source='run')\n"
)


def random_kill_case(delay: float) -> Case:
    def run() -> Outcome:
        home = fresh_home()
        proc = subprocess.Popen([PY, "-c", LOOP, str(home)], env=_env(home), stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()
        time.sleep(delay)
        proc.kill()
        proc.wait()
        ok_models, ids, problems = sound_models(home)
        from fmnist_core.modeling import saving

        saving.clean_stale_temps(home)
        left = list(home.glob(".*.keras"))
        ok = ok_models and isinstance(ids.get("victim"), int) and not left
        return Outcome(
            f"'victim' holds run {ids.get('victim')}'s model, loads and matches"
            if ok_models
            else f"NOT SOUND: {problems}",
            ok,
            data_lost=not ok_models,
        )

    return Case(
        f"kill.random@{delay:.2f}s",
        "Kills during a save or delete",
        f"SIGKILL {delay:.2f} s into a loop of overwrites of one model",
        "one whole model, whichever save won",
        "`python -c 'loop: save_model(victim)'` & kill -9",
        run,
    )


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


# ---------------------------------------------------------------- leases, paused and killed workers


def _queue(home: Path, **hp):
    from fmnist_core.data.tasks import get_task
    from fmnist_core.modeling.models import normalize_spec
    from fmnist_core.runs.store import RunStore

    s = RunStore(home / "runs.sqlite")
    rid = s.create_run(
        "w",
        get_task("multiclass"),
        normalize_spec("linear"),
        {"subset": 3000, "epochs": 30, "batch_size": 32, **hp},
        model_name="work",
    )
    return s, rid


def _start_worker(home: Path, lease: str = "60") -> subprocess.Popen:
    return subprocess.Popen(
        [PY, "-m", "fmnist_core.runs.worker", "--store", str(home / "runs.sqlite")],
        cwd=REPO,
        env=_env(home, FMNIST_LEASE_TIMEOUT_S=lease),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _until_batches(s, rid, proc, limit=180):
    deadline = time.monotonic() + limit
    while not (s.get_run(rid) or {}).get("current_batch"):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the worker never started training")
        time.sleep(0.2)


def worker_cases() -> list[Case]:
    g = "Paused, killed and fenced workers"

    def fenced():
        from fmnist_core.runs import leases

        home = fresh_home()
        s, rid = _queue(home)
        lease = s.claim_next(os.getpid())["lease"]
        _tamper(home, "UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", rid)
        reaped = s.reap_dead()
        wrote = [
            s.heartbeat(rid, lease),
            s.add_epoch(rid, {"epoch": 1, "loss": 1.0}, lease=lease),
            s.add_batch(rid, {"step": 1, "epoch": 1, "batch": 1}, lease=lease),
        ]
        published = []
        try:
            s.finish(rid, "completed", val={"accuracy": 0.9}, lease=lease, publish=lambda: published.append(1))
            refused = False
        except leases.LeaseLostError:
            refused = True
        run = s.get_run(rid)
        ok = reaped == [rid] and not any(wrote) and refused and not published and run["status"] == "failed"
        return Outcome(
            f"reaped {reaped}; writes accepted: {sum(wrote)}/3; finish refused: {refused}; published: "
            f"{bool(published)}; run {run['status']}: {short(run['message'], 60)}",
            ok,
        )

    def expired():
        from fmnist_core.runs import leases

        home = fresh_home()
        s, rid = _queue(home)
        lease = s.claim_next(os.getpid())["lease"]
        _tamper(home, "UPDATE runs SET heartbeat_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", rid)
        published = []
        try:
            s.finish(rid, "completed", lease=lease, publish=lambda: published.append(1))
            refused = False
        except leases.LeaseLostError:
            refused = True
        run = s.get_run(rid)
        return Outcome(
            f"finish refused: {refused}; published: {bool(published)}; run {run['status']}: "
            f"{short(run['message'], 70)}",
            refused and not published and "lease expired" in run["message"],
        )

    def paused():
        home = fresh_home()
        s, rid = _queue(home)
        proc = _start_worker(home, lease="4")
        try:
            _until_batches(s, rid, proc)
            os.kill(proc.pid, signal.SIGSTOP)
            time.sleep(6)
            from fmnist_core.runs import leases

            old, leases.HEARTBEAT_TIMEOUT_S = leases.HEARTBEAT_TIMEOUT_S, 4.0
            try:
                reaped = s.reap_dead()
            finally:
                leases.HEARTBEAT_TIMEOUT_S = old
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(8)  # it resumes, notices its lease is gone, writes nothing
        finally:
            proc.kill()
            proc.wait()
        run = s.get_run(rid)
        saved = (home / "work.keras").exists()
        ok = reaped == [rid] and run["status"] == "failed" and run["val_accuracy"] is None and not saved
        return Outcome(
            f"reaped {reaped}; run {run['status']}: {short(run['message'], 70)}; model saved after: {saved}", ok
        )

    def killed(sig):
        def run():
            home = fresh_home()
            s, rid = _queue(home)
            proc = _start_worker(home)
            try:
                _until_batches(s, rid, proc)
                os.kill(proc.pid, sig)
                proc.wait(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            s.reap_dead()
            run = s.get_run(rid)
            ok_models, ids, problems = sound_models(home)
            want = "stopped" if sig == signal.SIGTERM else "failed"
            ok = run["status"] == want and ok_models and (want == "failed" or ids.get("work") == rid)
            return Outcome(
                f"run {run['status']}: {short(run['message'], 70)}; models sound: {ok_models}; "
                f"'work' {'saved' if 'work' in ids else 'not saved'}",
                ok,
            )

        return run

    return [
        Case(
            "worker.fenced-writes",
            g,
            "a worker writes after its lease was taken (heartbeat, epoch, batch, finish)",
            "every write refused, nothing published",
            "store API, see `worker_cases`",
            fenced,
        ),
        Case(
            "worker.expired-lease-finish",
            g,
            "finish with a lease expired that nobody took",
            "refused, run failed with 'lease expired'",
            "store API",
            expired,
        ),
        Case(
            "worker.sigstop-past-lease",
            g,
            "a real worker SIGSTOPped past its 4 s lease, reaped, then SIGCONT",
            "run failed; no model, no result written afterwards",
            "`kill -STOP`, `runs`, `kill -CONT`",
            paused,
        ),
        Case(
            "worker.sigkill-mid-training",
            g,
            "a real worker SIGKILLed mid-epoch",
            "run failed with the cause, listed models sound",
            "`kill -9 <worker>`",
            killed(signal.SIGKILL),
        ),
        Case(
            "worker.sigterm-mid-training",
            g,
            "a real worker SIGTERMed mid-epoch",
            "run 'stopped', its weights saved whole",
            "`kill <worker>`",
            killed(signal.SIGTERM),
        ),
    ]


def cases() -> list[Case]:
    return (
        [kill_case(step, ow) for step in ("keras_written", "staged", "published") for ow in (False, True)]
        + [kill_delete_case(v) for v in ("model", "run")]
        + [random_kill_case(d) for d in (0.05, 0.2, 0.4, 0.7, 1.1)]
        + race_cases()
        + deletion_cases()
        + worker_cases()
    )
