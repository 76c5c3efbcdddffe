"""Weight and gradient histograms of a run, per layer per epoch: kept as one JSON line per epoch
in ``<home>/histograms/run<id>.jsonl`` (written by the worker from ``callbacks.WeightHistograms``
events), and drawn like TensorBoard's histogram view. No Streamlit."""
from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go


def path_for(run_id: int, home: Path | None = None) -> Path:
    from fmnist_core.modeling.saving import home_dir
    return (home or home_dir()) / "histograms" / f"run{int(run_id)}.jsonl"


def append(run_id: int, event: dict, home: Path | None = None) -> None:
    path = path_for(run_id, home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps({"epoch": event["epoch"], "layers": event["layers"]}) + "\n")


def read(run_id: int, home: Path | None = None) -> list[dict]:
    """The run's records, oldest epoch first; [] when it has none (older runs, other trainers)."""
    try:
        lines = path_for(run_id, home).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a killed worker
    return out


def histogram_figure(records: list[dict], layer: str, kind: str = "weights") -> go.Figure:
    """One outline per epoch (older epochs lighter) of the layer's weight or gradient histogram."""
    fig = go.Figure()
    shown = [r for r in records if any(e["layer"] == layer and kind in e for e in r["layers"])]
    for i, rec in enumerate(shown):
        h = next(e[kind] for e in rec["layers"] if e["layer"] == layer)
        centres = [(a + b) / 2 for a, b in zip(h["edges"], h["edges"][1:])]
        shade = 0.25 + 0.75 * (i + 1) / len(shown)
        fig.add_trace(go.Scatter(x=centres, y=h["counts"], mode="lines", line={"shape": "hvh", "width": 1.5,
                                 "color": f"rgba(214, 96, 39, {shade:.2f})"}, name=f"epoch {rec['epoch']}",
                                 hovertemplate=f"epoch {rec['epoch']}<br>value %{{x:.3g}}<br>count %{{y}}"
                                               "<extra></extra>"))
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis_title=f"{kind[:-1]} value", yaxis_title="count", legend={"orientation": "v"})
    return fig
