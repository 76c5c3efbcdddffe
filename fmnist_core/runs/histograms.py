"""Where a run's weight and gradient histograms live: one JSON line per epoch in
``<home>/histograms/run<id>.jsonl``, appended by the worker from ``callbacks.WeightHistograms``
events and read by Compare runs (drawn by ``insight.weight_histograms``)."""

from __future__ import annotations

import json
from pathlib import Path


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
