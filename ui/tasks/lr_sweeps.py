"""The LR Finder's background work, shared by all sessions: the sweeps, and the warm models that let
a sweep start at full speed.

A sweep runs ``lr_find`` as a background task; the browser polls its progress from the app's route
(``ui.training.live_feed``; without the route, a fragment polls), so the page stays usable and does not
rerun while the sweep trains. While the user reads the settings, the model for them is built,
compiled and its training step traced in the background (``lr_finder.warm_model``): that is the
sweep's slow first batch, 2-6 s of a ~10-s fmnist_net sweep. The sweep then borrows the warm model
(it is put back exactly afterwards, so "Run it again" borrows it too), or builds its own if another
sweep holds it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from ui.tasks.widgets import shared, waiting_line

MAX_SWEEPS = 32  # results kept in memory (a few hundred floats each)
MAX_RUNNING = 2  # sweeps at once: each trains on every core
MAX_WARM = 4  # warm models kept (fmnist_net with Adam's moments: ~10 MB each; one lent to a sweep
# and then forgotten lives on until that sweep ends)
MAX_WARMING = 2  # warm-ups at once: a user flicking through settings must not start a dozen
WARM_WAIT_SECONDS = 60


@dataclass
class WarmModel:
    model: object
    seconds: float
    lent: threading.Lock = field(default_factory=threading.Lock)  # held by the sweep that borrowed it


def sweeps():
    """The sweeps, by sweep key; a task's result is ``lr_find``'s, plus "warm_seconds"."""
    return shared("lr-sweeps", MAX_RUNNING, MAX_SWEEPS)


def _warm_models():
    return shared("lr-warm-models", MAX_WARMING, MAX_WARM)


def model_key(spec_key: str, task_name: str, hp: dict) -> str:
    """What a warm model depends on: the layers, the task and the training settings (not the LR range)."""
    return json.dumps({"spec": spec_key, "task": task_name, "hp": hp}, sort_keys=True)


def sweep_key(mkey: str, start_lr: float, end_lr: float, num_batches: int) -> str:
    return json.dumps({"model": mkey, "start": start_lr, "end": end_lr, "n": int(num_batches)}, sort_keys=True)


def warm(mkey: str, spec, task, hp: dict) -> None:
    """Build, compile and trace the model for these settings in the background, once, if a warm-up
    slot is free (else the sweep builds its own model)."""

    def work(_task) -> WarmModel:
        from fmnist_core.modeling.lr_finder import warm_model

        t0 = time.perf_counter()
        model = warm_model(spec, task, hp)
        return WarmModel(model, time.perf_counter() - t0)

    _warm_models().start(mkey, work, wait=False)


def _borrow(mkey: str) -> WarmModel | None:
    """The warm model for ``mkey`` (waiting for its warm-up if one runs), locked for the caller; None
    when there is none, its warm-up failed (the sweep then reports the error itself), or another
    sweep holds it."""
    entry = _warm_models().get(mkey)
    if entry is None or not entry.wait(WARM_WAIT_SECONDS) or entry.result is None:
        return None
    return entry.result if entry.result.lent.acquire(blocking=False) else None


def start(key: str, mkey: str, spec, task, hp: dict, start_lr: float, end_lr: float, num_batches: int) -> None:
    """Run ``lr_find`` as a background task (again, if one for ``key`` has finished; never twice at once)."""

    def work(sweep):
        from fmnist_core.modeling.lr_finder import lr_find

        warm_entry = _borrow(mkey)
        try:
            result = lr_find(
                spec,
                task,
                hp,
                model=warm_entry.model if warm_entry else None,
                start_lr=start_lr,
                end_lr=end_lr,
                num_batches=num_batches,
                on_progress=sweep.report,
            )
        finally:
            if warm_entry is not None:
                warm_entry.lent.release()
        return {**result, "warm_seconds": warm_entry.seconds if warm_entry else None}

    sweeps().start(key, work, again=True)


def progress_of(sweep) -> tuple[float, str]:
    """(fraction done, the line under the bar) of a sweep that has not finished."""
    ev = sweep.progress
    waited = time.time() - sweep.asked
    if sweep.state == "queued":
        return 0.0, f"Another sweep is running: {waiting_line(sweep)}… ({waited:.0f} s)"
    if ev is None:
        return 0.0, f"Preparing the data and building the model… ({waited:.0f} s)"
    return (
        ev["batch"] / ev["num_batches"],
        f"batch {ev['batch']}/{ev['num_batches']} · lr {ev['lr']:.2e} · loss {ev['loss']:.4f} · {waited:.0f} s",
    )


def progress(key: str) -> None:
    """Polled (a fragment) while the sweep runs; reruns the page once it is done."""
    sweep = sweeps().get(key)
    if sweep is None or sweep.finished:
        st.rerun()
    frac, text = progress_of(sweep)
    st.progress(frac, text=text)


def progress_snapshot(sweep_id: str) -> dict | None:
    """What the progress route (``ui.training.live_feed``) answers for the sweep with this id; None if unknown."""
    sweep = sweeps().by_id(sweep_id)
    if sweep is None:
        return None
    frac, text = progress_of(sweep)
    return {"frac": frac, "text": text, "done": sweep.finished}
