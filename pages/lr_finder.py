"""LR Finder: sweep the learning rate exponentially over a short run and read a good one off
the loss curve (Smith 2015, fastai's ``lr_find``). "Use this LR" carries it to Build & Train.

The sweep runs here, in the app process, on a small subset: about 100 batches, seconds on a
CPU. Results are cached per model, task and settings, for every session.
"""
import json
import time

import streamlit as st

from fmnist_core.insight.training_figures import SUGGESTION_LABELS, lr_finder_figure
from fmnist_core.modeling import models
from fmnist_core.modeling.training import OPTIMIZERS, HParams
from ui import frame, run_widgets

ss = st.session_state
BUILDER = "The model in Build & Train"
SUGGESTION_HELP = {
    "valley": "2/3 down the longest stretch of falling loss (fastai's default): usually the safest pick.",
    "steepest": "Where the loss falls fastest: aggressive but often fine with Adam.",
    "min_div_10": "The LR at the lowest loss divided by 10: the classic rule of thumb.",
}


@st.cache_resource(show_spinner=False)
def _results() -> dict:
    """LR-finder results shared by all sessions: {settings key: result}. Small (a few hundred floats each)."""
    return {}


def _run(key: str, spec, task, hp: dict, start_lr: float, end_lr: float, num_batches: int) -> dict:
    from fmnist_core.modeling.lr_finder import lr_find

    bar = st.progress(0.0, text="Preparing the data and building the model…")

    def on_progress(ev):
        bar.progress(ev["batch"] / ev["num_batches"],
                     text=f"batch {ev['batch']}/{ev['num_batches']} · lr {ev['lr']:.2e} · loss {ev['loss']:.4f}")
    result = lr_find(spec, task, hp, start_lr=start_lr, end_lr=end_lr, num_batches=num_batches,
                     on_progress=on_progress)
    bar.empty()
    _results()[key] = result
    return result


def _use(lr: float, suggestion: str, model_label: str, optimizer: str) -> None:
    """Hand the LR (and the optimizer it was found for) to Build & Train and go there."""
    ss.lr_from_finder = {"lr": float(lr), "suggestion": SUGGESTION_LABELS.get(suggestion, suggestion),
                         "model": model_label, "optimizer": optimizer, "at": time.time()}
    frame.go_to(run_widgets.BUILD_PAGE)
    st.success(f"Learning rate {lr:.2e} will be the default on Build & Train.")


st.title("LR Finder")
st.caption("Train a fresh model for a few batches while the learning rate grows from tiny to huge; the loss "
           "first falls, then explodes. A good LR lies on the steep falling part, before the minimum. "
           "The model's weights are thrown away afterwards.")

# First visit after building a model: start from the Build & Train task (the user can change it).
for mine, theirs in (("lrf_task", "bt_task"), ("lrf_task_classes", "bt_task_classes")):
    if mine not in ss and ss.get(theirs) is not None:
        ss[mine] = ss[theirs]

c1, c2 = st.columns(2)
with c1:
    has_builder = ss.get("bt_layers") is not None
    sources = ([BUILDER] if has_builder else []) + list(models.PRESETS)
    builder_label = (f"{BUILDER} ({ss.get('bt_origin') or 'custom'}, {len(ss.bt_layers)} layers)"
                     if has_builder else BUILDER)
    source = st.selectbox("Model", sources, key="lrf_model", persist_state="session",
                          format_func=lambda s: builder_label if s == BUILDER
                          else f"{s}: {models.PRESET_DESCRIPTIONS[s]}")
with c2:
    task = run_widgets.task_picker("lrf")
if source == BUILDER:
    spec = [{k: v for k, v in layer.items() if k != "_id"} for layer in ss.bt_layers]
    model_label = f"the Build & Train model ({ss.get('bt_origin') or 'custom'})"
else:
    spec = models.preset(source)
    model_label = source

c = st.columns(4)
optimizer = c[0].selectbox("Optimizer", OPTIMIZERS, key="lrf_optimizer", persist_state="session")
batch_size = c[1].selectbox("Batch size", (32, 64, 128, 256), index=2, key="lrf_batch_size", persist_state="session")
subset = c[2].number_input("Training images", 500, 60000, value=5000, step=500, key="lrf_subset",
                           persist_state="session", help="A stratified subset: the sweep only needs a few batches.")
num_batches = c[3].number_input("Batches in the sweep", 20, 500, value=100, step=10, key="lrf_batches",
                                persist_state="session")
with st.expander("Range and data"):
    c = st.columns(3)
    start_lr = c[0].number_input("Start LR", 1e-9, 1.0, value=1e-7, format="%.1e", step=1e-7, key="lrf_start")
    end_lr = c[1].number_input("End LR", 1e-5, 100.0, value=10.0, format="%.1e", step=1.0, key="lrf_end")
    normalize = c[2].checkbox("Normalize pixels to [0, 1]", value=True, key="lrf_normalize")

problems = []
if task is None:
    problems.append("Choose a valid task.")
try:
    models.check_param_cap(spec, task or "multiclass")
except models.SpecError as exc:
    problems.append(f"The model cannot be built: {exc}")
if start_lr >= end_lr:
    problems.append("The start LR must be below the end LR.")
hp = {"optimizer": optimizer, "batch_size": int(batch_size), "normalize": bool(normalize),
      "subset": None if subset >= 60000 else int(subset), "seed": 42}
try:
    HParams.from_dict(hp)
except ValueError as exc:
    problems.append(str(exc))
for p in problems:
    st.error(p)

key = None
if not problems:
    key = json.dumps({"spec": run_widgets.spec_key(spec), "task": task.name, "hp": hp, "start": start_lr,
                      "end": end_lr, "n": int(num_batches)}, sort_keys=True)
result = _results().get(key) if key else None
label = "Run the LR finder" if result is None else "Run it again"
if st.button(label, type="primary", icon=":material/query_stats:", disabled=bool(problems), key="lrf_run"):
    try:
        result = _run(key, spec, task, hp, start_lr, end_lr, int(num_batches))
    except ValueError as exc:
        st.error(f"The sweep failed: {exc}")

if result is not None:
    sugg = result["suggestions"]
    st.plotly_chart(lr_finder_figure(result, title=f"{model_label} · {task.name} · {optimizer}"),
                    key="lrf_chart")
    st.caption(f"{len(result['lrs'])} batches in {result['seconds']:.1f} s; {result['stopped_reason']}.")
    cols = st.columns(len(sugg))
    for col, (name, lr) in zip(cols, sugg.items()):
        with col, st.container(border=True):
            st.metric(SUGGESTION_LABELS.get(name, name), f"{lr:.2e}", help=SUGGESTION_HELP.get(name))
            if st.button("Use this LR", key=f"lrf_use_{name}", type="primary" if name == "valley" else "secondary",
                         width="stretch"):
                _use(lr, name, model_label, optimizer)
    offer = ss.get("lr_from_finder")
    if offer:
        st.info(f"Build & Train will use learning rate {offer['lr']:.2e} "
                f"({offer['suggestion']}, {offer['optimizer']}).")
        frame.page_link(run_widgets.BUILD_PAGE, "Go to Build & Train", ":material/construction:")
elif not problems:
    st.info("Press **Run the LR finder**: about 100 training batches, a few seconds for small models.")
