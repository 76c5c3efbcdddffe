"""What the live view shows about a run, as plain values: its phase, progress line, metric tiles,
caption, fit hints and its curves (the Plotly figure a finished run gets too).

No Streamlit here: the same values are drawn by the page's own widgets (``ui.training.live``, when the
app runs without its live route, e.g. under AppTest) and by the browser-side live view
(``ui.training.live_feed``), which fetches them as JSON from the app's route while the page stays still.
"""

from __future__ import annotations

from fmnist_core.insight.training_figures import curves_figure

TERMINAL_STATUSES = ("completed", "stopped", "failed")


def pct(v, digits: int = 2) -> str:
    """An accuracy (a fraction) in percent, as everywhere in the app: 0.9477 -> "94.77%"."""
    return "–" if v is None else f"{100 * v:.{digits}f}%"


def fmt_seconds(s) -> str:
    """12 -> "12 s", 75 -> "1 min 15 s", 3725 -> "1 h 02 min"."""
    if s is None:
        return "–"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def phase(run: dict, n_done: int) -> str:
    """What a run is doing now, in words: queued, starting, training, validating, stopping, or its end status.

    n_done : epochs finished (validated) so far.
    """
    status = run["status"]
    if status != "running":
        return status
    if run.get("stop_requested"):
        return "stopping"
    e, b, bpe = run.get("current_epoch"), run.get("current_batch"), run.get("batches_per_epoch")
    if not (e and bpe):
        return "starting"
    if b == bpe and n_done < e:
        return "validating"  # the epoch's last batch is done; its validation pass runs
    return "training"


def eta(run: dict, pts: list[dict]) -> float | None:
    """Seconds left, from the time per step since the first point (which carries the one-off compile)."""
    bpe, epochs = run.get("batches_per_epoch"), run.get("epochs")
    if len(pts) < 2 or not (bpe and epochs) or None in (pts[0].get("elapsed"), pts[-1].get("elapsed")):
        return run.get("eta_seconds")
    steps = pts[-1]["step"] - pts[0]["step"]
    if steps <= 0:
        return run.get("eta_seconds")
    return max(0.0, (pts[-1]["elapsed"] - pts[0]["elapsed"]) / steps * (epochs * bpe - pts[-1]["step"]))


def progress(run: dict, pts: list[dict], now: str, n_ahead: int = 0) -> tuple[float, str] | None:
    """(fraction done, the line under the bar) while the run is active, else None.

    n_ahead : runs queued or running before this one (shown while it is queued).
    """
    epochs, bpe = run.get("epochs") or 1, run.get("batches_per_epoch")
    e, b = run.get("current_epoch") or 0, run.get("current_batch") or 0
    where = f"epoch {e}/{epochs} · batch {b}/{bpe}" if e and bpe else ""
    frac = min(1.0, max(0.0, ((e - 1) * bpe + b) / (epochs * bpe))) if e and bpe else 0.0
    if now == "queued":
        return 0.0, f"Queued: waiting for {n_ahead} run(s) ahead of it. It starts by itself."
    if now == "starting":
        return 0.0, "Starting: loading TensorFlow and the data, building the model…"
    if now == "stopping":
        return frac, (
            f"Stopping… at {where}: finishing this batch, then scoring and saving the best finished epoch's weights"
        )
    if now == "validating":
        return frac, f"Validating… epoch {e}/{epochs} trained; measuring it on the validation images"
    if now == "training":
        left = eta(run, pts)
        return frac, (
            f"{where} · elapsed {fmt_seconds(run.get('elapsed'))}"
            f" · ETA {fmt_seconds(left) if left is not None else '–'}"
        )
    return None


def metric_values(history: list[dict], pts: list[dict]) -> list[tuple[str, str]]:
    """The four tiles: (label, value) for batch loss, train and best validation accuracy, learning rate."""
    last_b = pts[-1] if pts else {}
    last_e = history[-1] if history else {}
    best = max((h["val_accuracy"] for h in history if h.get("val_accuracy") is not None), default=None)
    lr = last_b.get("lr") if last_b.get("lr") is not None else last_e.get("lr")
    return [
        ("Batch loss", f"{last_b['loss']:.3f}" if last_b.get("loss") is not None else "–"),
        ("Train accuracy (last epoch)", pct(last_e.get("accuracy"))),
        ("Best validation accuracy", pct(best)),
        ("Learning rate", f"{lr:.2e}" if lr is not None else "–"),
    ]


def caption(n_points: int, history: list[dict], status: str) -> str:
    """ "N batch points · M epochs done · status S" (tests and the benchmark read it)."""
    return f"{n_points} batch points · {len(history)} epochs done · status {status}"


def live_figure(run: dict, pts: list[dict], max_points: int = 300) -> dict:
    """The live view's curves: ``curves_figure`` of the run so far (the figure its finished run gets,
    with default controls), at most ``max_points`` batch points per curve, the x axis spanning the
    run's planned epochs."""
    return curves_figure(
        run.get("history") or [], pts, run.get("batches_per_epoch"), max_points=max_points, epochs=run.get("epochs")
    )


def snapshot(run: dict, pts: list[dict], n_ahead: int = 0, max_points: int = 300) -> dict:
    """Everything the browser-side live view draws for one poll, JSON-ready.

    run : the store's run dict with ``history``; pts : all its batch points so far (maybe thinned).
    """
    from fmnist_core.insight.fit_hints import fit_hints

    history = run.get("history") or []
    now = phase(run, len(history))
    prog = progress(run, pts, now, n_ahead)
    return {
        "id": run["id"],
        "status": run["status"],
        "phase": now,
        "terminal": run["status"] in TERMINAL_STATUSES,
        "progress": None if prog is None else {"frac": prog[0], "text": prog[1]},
        "metrics": [list(m) for m in metric_values(history, pts)],
        "caption": caption(len(pts), history, run["status"]),
        "hints": [h["text"] for h in fit_hints(history)],
        "figure": live_figure(run, pts, max_points),
    }
