"""Few-shot: teach a pre-trained network new shoe classes from a handful of images.

Five methods on the same draws (label spreading over unlabelled images, frozen backbone + new
head, full fine-tune, nearest class mean, from scratch), backbones, seeds, a k-shot curve, and
the user's own images. All logic is in ``fmnist_core.studies.fewshot`` (methods) and
``fewshot_eval`` (scoring, curves); fits and curves run in
background tasks (``ui.tasks``) so the page never blocks, and a run takes seconds. Results are
kept per settings for every session. The panels live in ``ui.studies`` (fewshot_task,
fewshot_results, fewshot_curve): this page is the order they come in.
"""

import streamlit as st

from fmnist_core.data import fashion_mnist as fdata
from ui.studies import fewshot_curve, fewshot_results, fewshot_task
from ui.tasks import widgets as tasks

st.title("Few-shot")
st.markdown(
    "Can a network that already knows shoes learn a **new distinction from one picture per class**? A student "
    "project this lab grew from (FashionMNIST_Classification) tried it: it took a network trained to tell shoes "
    "from the rest, retrained its last layer on **1 flat-soled and 1 heeled ankle boot**, and reported about 95% "
    "on 20 test boots. Here five methods run on the same images, over several seeds, "
    "and a k-shot curve shows how accuracy grows with more examples. The default, **label spreading**, also "
    "learns from thousands of *unlabelled* boots: it is the best of the five methods on the study's own 216 "
    "hand-labelled validation boots at every k from 1 to 20 images per class (94.5% at one, 96.6% at 20; "
    "RESULTS.md). On shoe types it varies more from draw to draw at 2-5 images per class: compare it with "
    "**frozen** there."
)
if not fdata.dataset_status()["found"]:
    st.error("Fashion-MNIST is not installed. Run `make data` in the project folder, then reload.")
    st.stop()
# Comparisons and curves, shared by every session: two fit at once (each uses every core), 48 kept.
jobs = tasks.shared("few-shot", max_running=2, keep=48)
for key in ("fewshot_result", "fewshot_curve"):
    st.session_state.pop(key, None)  # set again below when this run shows results

st.subheader("1. The task")
task_kind, data, data_key, shots = fewshot_task.task_panel()

st.subheader("2. Five ways to learn from a few images")
backbone, methods, seeds = fewshot_results.methods_panel(data, task_kind)
results, job = fewshot_results.fit_methods(jobs, data, data_key, task_kind, methods, backbone, seeds, shots)

st.subheader("3. Results")
shown = fewshot_results.results_panel(results, data, backbone, seeds, shots)
fewshot_results.try_your_picture(job, shown, data, backbone, shots)

st.subheader("4. Accuracy vs number of examples (k-shot curve)")
fewshot_curve.curve_panel(jobs, data, data_key, task_kind, methods, backbone)
