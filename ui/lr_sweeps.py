"""The LR Finder's background work, shared by all sessions: the sweeps, and the warm models that let
a sweep start at full speed.

A sweep runs ``lr_find`` in a daemon thread of the app process; the browser polls its progress
from the app's route (``ui.live_feed``; without the route, a fragment polls), so the page stays
usable and does not rerun while the sweep trains. While the user reads the settings, the model
for them is built, compiled and its training step traced in the background
(``lr_finder.warm_model``): that is the sweep's slow first batch, 2-6 s of a ~10-s fmnist_net
sweep. The sweep then borrows the warm model (it is put back exactly afterwards, so "Run it again"
borrows it too), or builds its own if another sweep holds it.
"""
from __future__ import annotations

import json
import secrets
import threading
import time

import streamlit as st

MAX_SWEEPS = 32     # results kept in memory (a few hundred floats each)
MAX_WARM = 4        # warm models kept (fmnist_net with Adam's moments: ~10 MB each)
MAX_WARMING = 2     # warm-ups at once: a user flicking through settings must not start a dozen
WARM_WAIT_SECONDS = 60

_START_LOCK = threading.Lock()   # two sessions pressing Run on the same settings start one sweep
_WARM_LOCK = threading.Lock()
_WARMING = threading.BoundedSemaphore(MAX_WARMING)


@st.cache_resource(show_spinner=False)
def sweeps() -> dict:
    """{sweep key: {"progress", "result", "error", "done", "started", "warm_seconds"}}."""
    return {}


@st.cache_resource(show_spinner=False)
def _warm_models() -> dict:
    """{model key: {"model", "lock" (held while warming or sweeping), "ready" (Event), "seconds", "error"}}."""
    return {}


def model_key(spec_key: str, task_name: str, hp: dict) -> str:
    """What a warm model depends on: the layers, the task and the training settings (not the LR range)."""
    return json.dumps({"spec": spec_key, "task": task_name, "hp": hp}, sort_keys=True)


def warm(mkey: str, spec, task, hp: dict) -> None:
    """Build, compile and trace the model for these settings in the background, once."""
    from fmnist_core.modeling.lr_finder import warm_model

    with _WARM_LOCK:
        entries = _warm_models()
        if mkey in entries or not _WARMING.acquire(blocking=False):
            return
        entry = {"model": None, "lock": threading.Lock(), "ready": threading.Event(), "seconds": None, "error": None}
        entry["lock"].acquire()
        entries[mkey] = entry
        for old in [k for k, v in entries.items() if v["ready"].is_set()][:max(0, len(entries) - MAX_WARM)]:
            if entries[old]["lock"].acquire(blocking=False):   # not lent to a running sweep
                del entries[old]

    def work():
        t0 = time.perf_counter()
        try:
            entry["model"] = warm_model(spec, task, hp)
        except Exception as exc:   # the sweep then builds its own model and reports the error itself
            entry["error"] = str(exc)
        finally:
            entry["seconds"] = time.perf_counter() - t0
            entry["lock"].release()
            entry["ready"].set()
            _WARMING.release()
    threading.Thread(target=work, name="lr-finder-warm", daemon=True).start()


def _borrow(mkey: str):
    """The warm model for ``mkey`` (waiting for its warm-up if one runs) and its entry, locked for
    the caller; (None, None) when there is none or another sweep holds it."""
    entry = _warm_models().get(mkey)
    if entry is None or not entry["ready"].wait(WARM_WAIT_SECONDS) or entry["model"] is None:
        return None, None
    if not entry["lock"].acquire(blocking=False):
        return None, None
    return entry["model"], entry


def start(key: str, mkey: str, spec, task, hp: dict, start_lr: float, end_lr: float, num_batches: int) -> None:
    """Run ``lr_find`` in a daemon thread; its progress and result land in ``sweeps()[key]``."""
    from fmnist_core.modeling.lr_finder import lr_find

    with _START_LOCK:
        all_sweeps = sweeps()
        if key in all_sweeps and not all_sweeps[key]["done"]:
            return
        state = {"id": new_sweep_id(), "progress": None, "result": None, "error": None, "done": False,
                 "started": time.time(), "warm_seconds": None}
        all_sweeps[key] = state
        for old in [k for k, v in all_sweeps.items() if v["done"]][:max(0, len(all_sweeps) - MAX_SWEEPS)]:
            del all_sweeps[old]

    def work():
        model, entry = _borrow(mkey)
        try:
            if entry is not None:
                state["warm_seconds"] = entry["seconds"]
            state["result"] = lr_find(spec, task, hp, model=model, start_lr=start_lr, end_lr=end_lr,
                                      num_batches=num_batches, on_progress=lambda ev: state.update(progress=ev))
        except ValueError as exc:
            state["error"] = str(exc)
        finally:
            if entry is not None:
                entry["lock"].release()
            state["done"] = True
    threading.Thread(target=work, name="lr-finder", daemon=True).start()


def new_sweep_id() -> str:
    """How the browser names a sweep to the progress route (``ui.live_feed``): unguessable, and hex,
    because it goes into a component's key, which must not contain "__" (``token_urlsafe`` may:
    the page failed on such a sweep in the benchmark, 2026-11-26)."""
    return secrets.token_hex(12)


def progress_of(state: dict) -> tuple[float, str]:
    """(fraction done, the line under the bar) of a running sweep."""
    ev = state["progress"]
    waited = time.time() - state["started"]
    if ev is None:
        return 0.0, f"Preparing the data and building the model… ({waited:.0f} s)"
    return (ev["batch"] / ev["num_batches"],
            f"batch {ev['batch']}/{ev['num_batches']} · lr {ev['lr']:.2e} · loss {ev['loss']:.4f} · {waited:.0f} s")


def progress(key: str) -> None:
    """Polled (a fragment) while the sweep runs; reruns the page once it is done."""
    state = sweeps().get(key)
    if state is None or state["done"]:
        st.rerun()
    frac, text = progress_of(state)
    st.progress(frac, text=text)


def progress_snapshot(sweep_id: str) -> dict | None:
    """What the progress route (``ui.live_feed``) answers for the sweep with this ``id``; None if unknown."""
    state = next((s for s in list(sweeps().values()) if s.get("id") == sweep_id), None)
    if state is None:
        return None
    frac, text = progress_of(state)
    return {"frac": frac, "text": text, "done": state["done"]}
