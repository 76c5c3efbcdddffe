"""LR Finder: sweep the learning rate exponentially over a short run and read a good one off
the loss curve (Smith 2015, fastai's ``lr_find``). "Use this LR" carries it to Build & Train.

The sweep runs in a background thread of the app process, on a small subset: about 100
batches, seconds on a CPU. The model for the settings shown is built and compiled in the
background before the click, the browser polls the sweep's progress from the app's route (no
page reruns meanwhile), and the page stays usable while it runs (``ui.tasks.lr_sweeps``). Results are
kept per model, task and settings, for every session.
"""

import streamlit as st

from fmnist_core.insight.tuning_figures import SUGGESTION_LABELS, lr_finder_figure
from fmnist_core.modeling import models
from fmnist_core.modeling.training import OPTIMIZERS, PRECISIONS, HParams
from ui.app import frame, handoff, machine
from ui.tasks import lr_sweeps
from ui.training import live_feed, run_widgets

ss = st.session_state
BUILDER = "The model in Build & Train"
POLL_SECONDS = 0.5  # the fragment's rerun, without the app's route (each costs the browser ~0.1 s of CPU)
ROUTE_POLL_MS = 200  # the browser's fetch from the route: cheap, so the result shows soon after the sweep ends
SUGGESTION_HELP = {
    "valley": "Halfway down the longest stretch of falling loss (fastai's default): usually the safest pick.",
    "steepest": "Where the loss falls fastest: aggressive but often fine with Adam.",
    "min_div_10": "The LR at the lowest loss divided by 10: the classic rule of thumb.",
}


def _use(lr: float, suggestion: str, model_label: str, optimizer: str, spec) -> None:
    """Hand the LR (and the model and optimizer it was found for) to Build & Train and go there."""
    handoff.offer_lr(
        handoff.LrOffer(
            lr=float(lr),
            suggestion=SUGGESTION_LABELS.get(suggestion, suggestion),
            model=model_label,
            optimizer=optimizer,
            spec_key=run_widgets.spec_key(spec),
        )
    )
    st.success(f"Learning rate {lr:.2e} will be the default on Build & Train.")


st.title("LR Finder")
st.caption(
    "Train a fresh model for a few batches while the learning rate grows from tiny to huge; the loss "
    "first falls, then explodes. A good LR lies on the steep falling part, before the minimum. "
    "The model's weights are thrown away afterwards."
)

# First visit after building a model: start from Build & Train's task, batch size, optimizer and
# precision (they change the best LR; the user can change them here).
built = handoff.build_settings()
BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024)
if built is not None:
    for mine, theirs, ok in (
        ("lrf_task", built.task, None),
        ("lrf_task_classes", built.task_classes, None),
        ("lrf_batch_size", built.batch_size, BATCH_SIZES),
        ("lrf_optimizer", built.optimizer, OPTIMIZERS),
        ("lrf_precision", built.precision, PRECISIONS),
    ):
        if mine not in ss and theirs is not None and (ok is None or theirs in ok):
            ss[mine] = theirs

# The default model is the one Build & Train holds (or will load on its first visit), so that
# "Use this LR" carries an LR to the model it was found for.
builder_spec = built.spec if built is not None else None
builder_name = built.origin if built is not None else models.DEFAULT_PRESET
c1, c2 = st.columns(2)
with c1:
    sources = ([BUILDER] if builder_spec is not None else []) + list(models.PRESETS)
    builder_label = f"{BUILDER} ({builder_name}, {len(builder_spec)} layers)" if builder_spec is not None else BUILDER
    source = st.selectbox(
        "Model",
        sources,
        index=0 if builder_spec is not None else sources.index(builder_name),
        key="lrf_model",
        persist_state="session",
        format_func=lambda s: builder_label if s == BUILDER else f"{s}: {models.PRESET_DESCRIPTIONS[s]}",
    )
with c2:
    task = run_widgets.task_picker("lrf")
if source == BUILDER:
    spec = builder_spec
    model_label = f"the Build & Train model ({builder_name})"
else:
    spec = models.preset(source)
    model_label = source
held = builder_spec if builder_spec is not None else models.preset(models.DEFAULT_PRESET)
same_model = run_widgets.spec_key(held) == run_widgets.spec_key(spec)
if not same_model:
    st.warning(
        f"Build & Train holds {builder_name}, not {model_label}: an LR found here is for {model_label}. "
        "Pick the Build & Train model here, or load the same preset there, so the LR fits the model "
        "you train.",
        icon=":material/warning:",
    )

c = st.columns(4)
optimizer = c[0].selectbox("Optimizer", OPTIMIZERS, key="lrf_optimizer", persist_state="session")
batch_size = c[1].selectbox(
    "Batch size", BATCH_SIZES, index=BATCH_SIZES.index(128), key="lrf_batch_size", persist_state="session"
)
subset = c[2].number_input(
    "Training images",
    500,
    60000,
    value=5000,
    step=500,
    key="lrf_subset",
    persist_state="session",
    help="A stratified subset: the sweep only needs a few batches.",
)
num_batches = c[3].number_input(
    "Batches in the sweep", 20, 500, value=100, step=10, key="lrf_batches", persist_state="session"
)
with st.expander("Range and data"):
    c = st.columns(4)
    start_lr = c[0].number_input("Start LR", 1e-9, 1.0, value=1e-7, format="%.1e", step=1e-7, key="lrf_start")
    end_lr = c[1].number_input("End LR", 1e-5, 100.0, value=10.0, format="%.1e", step=1.0, key="lrf_end")
    normalize = c[2].checkbox("Normalize pixels to [0, 1]", value=True, key="lrf_normalize")
    # auto: bfloat16 where this CPU runs it fast (measured), else float32; follows Build & Train's choice.
    precision = c[3].selectbox(
        "Precision", PRECISIONS, index=PRECISIONS.index("auto"), key="lrf_precision", persist_state="session"
    )
    c[3].caption(machine.precision_caption(precision))

problems = []
if task is None:
    problems.append("Choose a valid task.")
try:
    models.check_param_cap(spec, task or "multiclass")
except models.SpecError as exc:
    problems.append(f"The model cannot be built: {exc}")
if start_lr >= end_lr:
    problems.append("The start LR must be below the end LR.")
hp = {
    "optimizer": optimizer,
    "batch_size": int(batch_size),
    "normalize": bool(normalize),
    "precision": precision,
    "subset": None if subset >= 60000 else int(subset),
    "seed": 42,
}
try:
    HParams.from_dict(hp)
except ValueError as exc:
    problems.append(str(exc))
for p in problems:
    st.error(p)

key = mkey = None
if not problems:
    mkey = lr_sweeps.model_key(run_widgets.spec_key(spec), task.name, hp)
    key = lr_sweeps.sweep_key(mkey, start_lr, end_lr, num_batches)
    lr_sweeps.warm(mkey, spec, task, hp)  # while the user reads: the sweep's first batch, done ahead
state = lr_sweeps.sweeps().get(key) if key else None
running = state is not None and not state.finished
result = state.result if state is not None else None
label = "Run the LR finder" if result is None else "Run it again"
# on_click starts the sweep before this script reruns, so the rerun already shows its progress.
st.button(
    label,
    type="primary",
    icon=":material/query_stats:",
    disabled=bool(problems) or running,
    key="lrf_run",
    on_click=lr_sweeps.start,
    args=(key, mkey, spec, task, hp, start_lr, end_lr, int(num_batches)),
)
if running and live_feed.mounted():  # the browser polls the progress: no reruns while the sweep trains
    live_feed.show_sweep_progress(state.id, lr_sweeps.progress_of(state), poll_ms=ROUTE_POLL_MS)
elif running:
    st.fragment(lr_sweeps.progress, run_every=POLL_SECONDS)(key)
elif state is not None and state.error:
    st.error(f"The sweep failed: {state.error}")

if result is not None:
    sugg = result["suggestions"]
    st.plotly_chart(lr_finder_figure(result, title=f"{model_label} · {task.name} · {optimizer}"), key="lrf_chart")
    warmed = result.get("warm_seconds")
    st.caption(
        f"{len(result['lrs'])} batches in {result['seconds']:.1f} s; {result['stopped_reason']}."
        + (
            f" The model was built and its training step compiled beforehand, in the background "
            f"({warmed:.1f} s), while the page showed these settings."
            if warmed is not None
            else ""
        )
    )
    cols = st.columns(len(sugg))
    for col, (name, lr) in zip(cols, sugg.items()):
        with col, st.container(border=True):
            st.metric(SUGGESTION_LABELS.get(name, name), f"{lr:.2e}", help=SUGGESTION_HELP.get(name))
            if st.button(
                "Use this LR",
                key=f"lrf_use_{name}",
                type="primary" if name == "valley" else "secondary",
                width="stretch",
            ):
                _use(lr, name, model_label, optimizer, spec)
    offer = handoff.lr_offer()
    if offer:
        st.info(f"Build & Train will use learning rate {offer.lr:.2e} ({offer.suggestion}, {offer.optimizer}).")
        frame.page_link(run_widgets.BUILD_PAGE, "Go to Build & Train", ":material/construction:")
elif not problems and not running:
    st.info("Press **Run the LR finder**: about 100 training batches, a few seconds for small models.")
