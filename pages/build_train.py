"""Build & Train: pick a task, build a model layer by layer (or start from a preset), set the
hyperparameters, then train it as a background job and watch it live.

The job runs in a worker process (``fmnist_core.runs.worker``), so a run keeps going when the user
leaves the page or reloads; the run being watched is kept in the URL (``?run=12``) and the
session, and the live view polls the run store. The widgets live in ``ui.training`` (layer_editor,
model_summary, hparam_form, sweep_form): this page is the order they come in.
"""

import streamlit as st

from ui.training import cluster, hparam_form, layer_editor, live, model_summary, run_widgets, sweep_form

st.title("Build & Train")
layer_editor.init_layers()
live.active_banner()

st.subheader("1. Task")
task = run_widgets.task_picker("bt")

st.subheader("2. Model")
layer_editor.preset_picker()
layer_editor.layer_editor()
spec = layer_editor.current_spec()
spec_ok = task is not None and model_summary.summary(spec, task)

st.subheader("3. Hyperparameters")
hp = hparam_form.hparams_form(spec)
hparam_form.publish_settings(spec, layer_editor.origin())
if spec_ok and hp is not None:
    model_summary.time_estimate(spec, task, hp)

st.subheader("4. Train")
cluster.cluster_panel()
sweep_form.train_form(spec if spec_ok else None, task, hp, layer_editor.origin())
sweep_form.sweep_form(spec if spec_ok else None, task, hp, layer_editor.origin())

st.subheader("Live run", anchor="live-run")
live.live_run_section(live.set_watch)
live.scroll_to("live-run")
