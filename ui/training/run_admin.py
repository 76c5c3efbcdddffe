"""Rename and delete runs, their models and sweeps (Compare runs), within the ownership rules.

The rules live in the core (``store.rename_run/delete_run/rename_sweep/delete_sweep``,
``jobs.rename_model``): only a thing's owner may change it, shipped models never. Every
refusal is shown as the core words it, and the page keeps serving.
"""

from __future__ import annotations

import streamlit as st

from ui.app.text import plain
from ui.training.run_widgets import get_store

ss = st.session_state


def current_owner() -> str:
    """Who is using the app: the signed-in user when served, else the local user (``ui.app.identity``)."""
    from ui.app.identity import current_owner as owner

    return owner()


def _attempt(action, done: str) -> None:
    try:
        action()
    except (ValueError, PermissionError, OSError) as exc:
        ss.cr_admin_error = str(exc)
    else:
        ss.cr_admin_error = None
        st.toast(done)


def _show_error() -> None:
    if ss.get("cr_admin_error"):
        st.error(plain(ss.cr_admin_error))  # it may quote a name the user typed


def manage_run(run: dict) -> None:
    """Rename the run and its saved model; delete the run (and its model) after a confirmation."""
    from fmnist_core.runs import jobs

    store, rid, owner = get_store(), run["id"], current_owner()
    with st.expander("Rename or delete this run", icon=":material/edit:", expanded=bool(ss.get("cr_admin_error"))):
        _show_error()
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        c1.text_input("Run name", value=run["name"], key=f"cr_rn_{rid}", max_chars=120)
        c2.button(
            "Rename run",
            key=f"cr_rn_go_{rid}",
            width="stretch",
            on_click=lambda: _attempt(
                lambda: store.rename_run(rid, ss[f"cr_rn_{rid}"], owner=owner), f"Run #{rid} renamed."
            ),
        )
        if run.get("model_path") and run.get("model_name"):
            old = run["model_name"]
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            c1.text_input(
                "Saved model name",
                value=old,
                key=f"cr_mn_{rid}",
                max_chars=64,
                help="1-64 letters, digits, - or _. Pickers on every page list it under this name.",
            )
            c2.button(
                "Rename model",
                key=f"cr_mn_go_{rid}",
                width="stretch",
                on_click=lambda: _attempt(
                    lambda: jobs.rename_model(old, ss[f"cr_mn_{rid}"].strip(), store=store, owner=owner),
                    f"Model {old} renamed.",
                ),
            )
        if run["status"] == "running":
            st.caption("Stop the run (Build & Train) before deleting it.")
            return
        if st.button("Delete run…", icon=":material/delete:", key=f"cr_del_{rid}"):
            ss.cr_confirm_delete = rid
        if ss.get("cr_confirm_delete") == rid:
            st.warning(
                f"Delete run #{rid} and its history"
                + (f", and its saved model `{run['model_name']}`" if run.get("model_path") else "")
                + "? This cannot be undone."
            )
            y, n, _ = st.columns([1, 1, 3])
            if y.button("Yes, delete", type="primary", key=f"cr_del_yes_{rid}"):
                _attempt(lambda: _delete_run(store, rid, owner), f"Deleted run #{rid}.")
                ss.cr_confirm_delete = None
                st.rerun()
            if n.button("Cancel", key=f"cr_del_no_{rid}"):
                ss.cr_confirm_delete = None
                st.rerun()


def _delete_run(store, rid: int, owner) -> None:
    from fmnist_core.runs.histograms import path_for

    store.delete_run(rid, delete_model=True, owner=owner)
    path_for(rid, store.home).unlink(missing_ok=True)  # its histograms go with it


def sweep_names() -> dict[str, str]:
    """Sweep id -> its display name (the id until renamed)."""
    return {s["id"]: s["name"] for s in get_store().list_sweeps()}


def manage_sweep(sweep_id: str) -> None:
    """Rename a sweep, or delete it with its runs and their models."""
    store, owner = get_store(), current_owner()
    with st.expander("Rename or delete this sweep", icon=":material/edit:", expanded=bool(ss.get("cr_admin_error"))):
        _show_error()
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        c1.text_input("Sweep name", value=sweep_names().get(sweep_id, sweep_id), key=f"cr_sn_{sweep_id}", max_chars=120)
        c2.button(
            "Rename sweep",
            key=f"cr_sn_go_{sweep_id}",
            width="stretch",
            on_click=lambda: _attempt(
                lambda: store.rename_sweep(sweep_id, ss[f"cr_sn_{sweep_id}"], owner=owner), "Sweep renamed."
            ),
        )
        if st.button("Delete sweep…", icon=":material/delete:", key=f"cr_sdel_{sweep_id}"):
            ss.cr_confirm_sweep = sweep_id
        if ss.get("cr_confirm_sweep") == sweep_id:
            st.warning("Delete this sweep, all its runs and their saved models? This cannot be undone.")
            y, n, _ = st.columns([1, 1, 3])
            if y.button("Yes, delete the sweep", type="primary", key=f"cr_sdel_yes_{sweep_id}"):
                _attempt(lambda: store.delete_sweep(sweep_id, delete_models=True, owner=owner), "Sweep deleted.")
                ss.cr_confirm_sweep = None
                st.rerun()
            if n.button("Cancel", key=f"cr_sdel_no_{sweep_id}"):
                ss.cr_confirm_sweep = None
                st.rerun()
