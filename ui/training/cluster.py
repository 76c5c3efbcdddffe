"""The cluster panel (Build & Train): nodes, free training slots and the queue, when runs train on
Ray (FMNIST_EXECUTOR=ray). Shows nothing with the default local executor."""

from __future__ import annotations

import os

import streamlit as st

from fmnist_core.schema.settings import settings
from ui.training.run_widgets import get_store

REFRESH_SECONDS = 5


@st.cache_data(ttl=REFRESH_SECONDS, show_spinner=False)
def _cluster_status() -> dict:
    """Cached a few seconds for all sessions: asking Ray costs a round trip to its head node."""
    from fmnist_core.runs import jobs

    return jobs.get_executor().cluster_status()


def cluster_panel() -> None:
    """Nodes (alive, CPUs, GPUs), free training slots and the queue, or a clear message if Ray is unreachable."""
    if settings().executor != "ray":
        return
    with st.expander("Cluster: where runs train", expanded=False):
        try:
            status = _cluster_status()
        except Exception as exc:  # an unreachable head must not break the page
            st.warning(
                f"The Ray cluster at {os.environ.get('RAY_ADDRESS') or 'auto'} cannot be reached "
                f"({type(exc).__name__}). Start it (`ray start --head`, see README 'Serving a class') "
                "or unset FMNIST_EXECUTOR to train on this machine."
            )
            return
        counts = get_store().count_by_status()
        alive = [n for n in status["nodes"] if n["alive"]]
        c1, c2, c3 = st.columns(3)
        c1.metric(
            "Nodes",
            f"{len(alive)} alive",
            f"{len(status['nodes']) - len(alive)} lost" if len(alive) < len(status["nodes"]) else None,
            delta_color="inverse",
        )
        c2.metric("Free training slots", f"{status['free_slots']} of {status['total_slots']}")
        c3.metric("Queue", f"{counts['queued']} waiting", f"{counts['running']} training", delta_color="off")
        st.dataframe(
            [
                {"node": n["node"], "address": n["address"], "alive": n["alive"], "CPUs": n["cpus"], "GPUs": n["gpus"]}
                for n in status["nodes"]
            ],
            hide_index=True,
        )
        st.caption(
            f"Each run reserves {settings().ray_cpus:g} CPU(s) on one node; refreshed every {REFRESH_SECONDS} s."
        )
