"""Probes of kills (SIGKILL) during saves and deletes, at each step and at random moments."""

from __future__ import annotations

import signal
import subprocess
import time

from benchmarks.probes.fault_cases import PY, _env, sound_models
from benchmarks.probes.harness import Case, Outcome, fresh_home

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


def cases() -> list[Case]:
    return (
        [kill_case(step, ow) for step in ("keras_written", "staged", "published") for ow in (False, True)]
        + [kill_delete_case(v) for v in ("model", "run")]
        + [random_kill_case(d) for d in (0.05, 0.2, 0.4, 0.7, 1.1)]
    )
