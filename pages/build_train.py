"""Build & Train: pick a task, build a model layer by layer (or start from a preset), set the
hyperparameters, then train it as a background job and watch it live.

The job runs in a worker process (``fmnist_core.runs.worker``), so a run keeps going when the user
leaves the page or reloads; the run being watched is kept in the URL (``?run=12``) and the
session, and the live view polls the run store.
"""
import json

import streamlit as st

from fmnist_core.modeling import models, saving
from fmnist_core.modeling.training import OPTIMIZERS, PRECISIONS, SCHEDULES
from fmnist_core.runs import jobs
from ui.app import frame, handoff, identity, machine
from ui.training import cluster, live, run_widgets
from ui.app.text import plain

DEFAULT_PRESET = models.DEFAULT_PRESET
NO_TRANSFER = "(random initialization)"
NO_GRID = "(nothing: one parameter)"
AT_END = -1
# Quick defaults: a few thousand images train in seconds on a CPU; the full 60k is one edit away.
HP_DEFAULTS = {"optimizer": "adam", "lr": 1e-3, "momentum": 0.9, "batch_size": 128, "epochs": 3,
               "schedule": "constant", "step_epoch": 5, "step_factor": 0.5, "decay_rate": 0.9,
               "early_stopping": 0, "augment_shift": 0.0, "augment_flip": False, "normalize": True,
               "val_fraction": 0.1, "subset": 6000, "seed": 42, "precision": "auto"}
SWEEP_EXAMPLES = {"lr": "1e-4, 1e-3, 1e-2", "batch_size": "32, 128, 512", "optimizer": "adam, sgd, rmsprop",
                  "dropout": "0, 0.25, 0.5", "activation": "relu, tanh, gelu", "normalize": "true, false",
                  "seed": "1, 2, 3", "epochs": "2, 4, 8", "augment_shift": "0, 0.1", "momentum": "0, 0.9"}
# Widget settings per layer parameter: (min, max, step) for numbers, options for choices.
NUMBER_PARAMS = {"filters": (1, 1024, 8), "units": (1, 65536, 16), "kernel_size": (1, 28, 1), "strides": (1, 28, 1),
                 "pool_size": (1, 28, 1), "rate": (0.0, 0.95, 0.05)}
CHOICE_PARAMS = {"padding": ("same", "valid"), "activation": models.ACTIVATIONS}

ss = st.session_state


# ---------------------------------------------------------------- the layer editor's state

def _with_ids(spec) -> list[dict]:
    out = []
    for layer in models.normalize_spec(spec):
        ss.bt_next_id = ss.get("bt_next_id", 0) + 1
        out.append({"_id": ss.bt_next_id, **layer})
    return out


def _load_preset():
    ss.bt_layers = _with_ids(models.preset(ss.bt_preset))
    ss.bt_origin = ss.bt_preset
    # A preset that comes with a training recipe brings it along: the quick preset is only quick (and
    # accurate) with bfloat16, batch 256 and one-cycle. The fields below show it and stay editable;
    # the number of training images is the user's choice and is left alone.
    recipe = models.RECIPES.get(ss.bt_preset, {})
    for k, v in recipe.items():
        if k in HP_DEFAULTS:
            ss[f"bt_hp_{k}"] = v
    ss.bt_recipe = ss.bt_preset if recipe else None


def _index(lid) -> int:
    return next(i for i, layer in enumerate(ss.bt_layers) if layer["_id"] == lid)


def _move(lid, step):
    i = _index(lid)
    j = i + step
    if 0 <= j < len(ss.bt_layers):
        ss.bt_layers[i], ss.bt_layers[j] = ss.bt_layers[j], ss.bt_layers[i]
        _edited()


def _remove(lid):
    ss.bt_layers.pop(_index(lid))
    _edited()


def _add():
    layer = _with_ids([{"type": ss.bt_add_type}])[0]
    pos = ss.bt_add_pos
    ss.bt_layers.insert(len(ss.bt_layers) if pos == AT_END else pos, layer)
    _edited()


def _edited():
    if ss.get("bt_origin") and not ss.bt_origin.endswith("(edited)"):
        ss.bt_origin = f"{ss.bt_origin} (edited)"


def current_spec() -> list[dict]:
    return [{k: v for k, v in layer.items() if k != "_id"} for layer in ss.bt_layers]


def _param_widget(param, key, label_visibility="visible"):
    if param in CHOICE_PARAMS:
        return st.selectbox(param.replace("_", " "), CHOICE_PARAMS[param], key=key,
                            label_visibility=label_visibility)
    lo, hi, step = NUMBER_PARAMS[param]
    return st.number_input(param.replace("_", " "), lo, hi, step=step, key=key,
                           format="%.2f" if isinstance(step, float) else None, label_visibility=label_visibility)


def layer_editor():
    n = len(ss.bt_layers)
    box = st.container(height=620 if n > 6 else "content", border=True, key="bt_layer_editor")
    # A label too long for its column overflows rather than breaking inside a word.
    st.html("<style>.st-key-bt_layer_editor [data-testid='stWidgetLabel'] p {word-break: keep-all; "
            "overflow-wrap: normal; white-space: nowrap;}</style>")
    with box:
        if not n:
            st.info("No hidden layers: the model is the output layer on the flattened image (a linear model). "
                    "Add layers below.")
        for i, layer in enumerate(ss.bt_layers):
            lid, params = layer["_id"], list(models.LAYER_TYPES[layer["type"]])
            # The layer's name and buttons on one line, its parameters under it: five parameter
            # columns get a full row, so labels like "activation" fit from 820 px wide up.
            head = st.columns([4, 1.25], vertical_alignment="center")
            head[0].markdown(f"**{i + 1}.&nbsp;{layer['type']}**")
            cols = [None] + (list(st.columns(5)) if params else []) + [None] * (0 if params else 5) + [head[1]]
            for col, param in zip(cols[1:6], params):
                key = f"bt_l{lid}_{param}"
                if key not in ss:
                    value = layer[param]
                    ss[key] = float(value) if param == "rate" else value
                with col:
                    layer[param] = _param_widget(param, key)
            with cols[6].container(horizontal=True, gap="small", horizontal_alignment="right"):
                st.button("", icon=":material/arrow_upward:", key=f"bt_up{lid}", on_click=_move, args=(lid, -1),
                          disabled=i == 0, help="Move up", type="tertiary")
                st.button("", icon=":material/arrow_downward:", key=f"bt_dn{lid}", on_click=_move, args=(lid, 1),
                          disabled=i == n - 1, help="Move down", type="tertiary")
                st.button("", icon=":material/close:", key=f"bt_rm{lid}", on_click=_remove, args=(lid,),
                          help="Remove this layer", type="tertiary")
    c1, c2, c3 = st.columns([1, 1, 1], vertical_alignment="bottom")
    c1.selectbox("Layer type", list(models.LAYER_TYPES), key="bt_add_type")
    positions = [AT_END, 0] + list(range(1, n))
    if ss.get("bt_add_pos") not in positions:
        ss.bt_add_pos = AT_END
    c2.selectbox("Position", positions, key="bt_add_pos",
                 format_func=lambda p: "at the end" if p == AT_END
                 else ("at the top" if p == 0 else f"after layer {p}"))
    c3.button("Add layer", icon=":material/add:", on_click=_add, width="stretch")


# ---------------------------------------------------------------- model summary and timing

@st.cache_data(show_spinner=False, max_entries=64)
def estimate(spec_json: str, task_name: str, hp_json: str) -> dict:
    from fmnist_core.data.tasks import get_task
    from fmnist_core.modeling.timing import estimate_epoch_seconds
    return estimate_epoch_seconds(json.loads(spec_json), get_task(task_name), json.loads(hp_json))


def summary(spec, task) -> bool:
    """The summary table and parameter count; False (with the error shown) if the spec is invalid."""
    try:
        rows = run_widgets.summary_rows(spec, task)
        n_params = models.check_param_cap(spec, task)
    except models.SpecError as exc:
        st.error(f"This model cannot be built: {exc}")
        return False
    left, right = st.columns([3, 2])
    left.dataframe(rows, hide_index=True, width="stretch", height="auto" if len(rows) <= 10 else 560,
                   column_config={"params": st.column_config.NumberColumn(format="localized")})
    right.metric("Parameters", f"{n_params:,}")
    right.caption(f"{len(spec)} hidden layers + the output layer; cap {models.DEFAULT_PARAM_CAP:,} parameters. "
                  f"Float32 weights: about {n_params * 4 / 1e6:.2f} MB.")
    return True


def time_estimate(spec, task, hp) -> None:
    """Measured time per epoch for this model and batch size, on request (cached per spec, task, sizes)."""
    key = (run_widgets.spec_key(spec), task.name, json.dumps(
        {k: hp.get(k) for k in ("batch_size", "subset", "val_fraction", "normalize", "optimizer", "precision")},
        sort_keys=True))
    done = ss.setdefault("bt_estimates", {})
    c1, c2 = st.columns([1, 3], vertical_alignment="center")
    if c1.button("Estimate time per epoch", icon=":material/timer:",
                 help="Builds the model and times a few real training steps"):
        with c2, st.spinner("Timing a few training steps…"):
            done[key] = estimate(*key)
    if key not in done:
        c2.caption("Measured on a few real batches of this model at this batch size.")
        return
    e = done[key]
    per_epoch = e["seconds_per_epoch"]
    c2.markdown(f"**≈ {run_widgets.fmt_seconds(per_epoch) if per_epoch >= 1 else f'{per_epoch:.2f} s'} per epoch**, "
                f"≈ {run_widgets.fmt_seconds(per_epoch * hp['epochs'])} for {hp['epochs']} epochs")
    c2.caption(f"{e['batches_per_epoch']} batches of {e['batch_size']} ({e['seconds_per_batch'] * 1000:.0f} ms each, "
               f"median of {e['measured_steps']}, {e['precision']}) on {e['n_train']:,} images, plus validation. Slower while "
               "another run is training.")


# ---------------------------------------------------------------- hyperparameters

def _init_hparams():
    for k, v in HP_DEFAULTS.items():
        ss.setdefault(f"bt_hp_{k}", v)
    ss.setdefault("bt_hp_init_from", NO_TRANSFER)
    offer = handoff.lr_offer()
    if offer and offer.model_dump() != ss.get("bt_lr_applied"):
        ss.bt_hp_lr = offer.lr
        if offer.optimizer in OPTIMIZERS:
            ss.bt_hp_optimizer = offer.optimizer
        ss.bt_lr_applied = offer.model_dump()


def hparams_form(spec) -> dict | None:
    """The hyperparameter widgets; returns a validated HParams dict, or None with the errors shown.

    The number fields have no min/max of their own: a browser refuses an out-of-range value
    without telling Python, which kept the old value and let Train go ahead with it. Here every
    value reaches ``run_widgets.hparam_errors``, which names each bad field and disables Train.
    """
    _init_hparams()
    p = "bt_hp_"
    keep = dict(persist_state="session")
    c = st.columns(4)
    optimizer = c[0].selectbox("Optimizer", OPTIMIZERS, key=p + "optimizer", **keep)
    lr = c[1].number_input("Learning rate", step=1e-4, format="%.2e", key=p + "lr", **keep)
    momentum = c[2].number_input("Momentum (SGD)", step=0.05, key=p + "momentum", disabled=optimizer != "sgd", **keep)
    batch_size = c[3].selectbox("Batch size", (16, 32, 64, 128, 256, 512, 1024), key=p + "batch_size", **keep)
    offer = handoff.lr_offer()
    if offer and abs(lr - offer.lr) <= 1e-12 * max(1.0, lr):
        st.info(f"Learning rate {offer.lr:.2e} comes from the LR finder ({offer.suggestion} "
                f"suggestion for {offer.model}, {offer.optimizer}).")
        if offer.spec_key != run_widgets.spec_key(spec):
            st.warning(f"That LR was found for {offer.model}, not for the model below: run the LR finder "
                       "on this model for an LR that fits it.", icon=":material/warning:")
    c = st.columns(4)
    epochs = c[0].number_input("Epochs", step=1, key=p + "epochs", **keep)
    schedule = c[1].selectbox("LR schedule", SCHEDULES, key=p + "schedule", **keep,
                              help="step: keep the LR, then multiply it by a factor every epoch; exponential: "
                                   "decay per epoch; cosine: anneal to ~0; onecycle: warm up then anneal.")
    step_epoch = c[2].number_input("Step: keep LR until epoch", step=1, key=p + "step_epoch",
                                   disabled=schedule != "step", **keep)
    step_factor = c[3].number_input("Step factor / epoch", step=0.05, key=p + "step_factor",
                                    disabled=schedule != "step", **keep)
    c = st.columns(4)
    decay_rate = c[0].number_input("Exponential decay / epoch", step=0.05, key=p + "decay_rate",
                                   disabled=schedule != "exponential", **keep)
    subset = c[1].number_input("Training images", step=1000, key=p + "subset", **keep,
                               help="A stratified subset of the 60,000 training images (60000 = all of them). "
                                    "A few thousand train in seconds on a CPU.")
    val_fraction = c[2].number_input("Validation share", step=0.05, key=p + "val_fraction", **keep)
    seed = c[3].number_input("Seed", step=1, key=p + "seed", **keep)
    c = st.columns(4, vertical_alignment="bottom")
    augment_shift = c[0].slider("Augment: max shift", 0.0, 0.3, step=0.05, key=p + "augment_shift", **keep,
                                help="Random translation as a fraction of the image: 0.1 ≈ 3 pixels.")
    augment_flip = c[1].checkbox("Augment: flip", key=p + "augment_flip", **keep, help="Random horizontal flip")
    precision = c[0].selectbox("Precision", PRECISIONS, key=p + "precision", **keep,
                               help="auto: measured on this computer. mixed_bfloat16: bfloat16 compute, float32 "
                                    "weights (fast only on CPUs with native bfloat16). mixed_float16: for GPUs.")
    c[0].caption(machine.precision_caption(precision))
    normalize = c[1].checkbox("Normalize to [0, 1]", key=p + "normalize", **keep,
                              help="Scale pixels from 0-255 to 0-1. Unticked, small models train much worse.")
    early_stopping = c[2].number_input("Early stopping patience (0 = off)", step=1, key=p + "early_stopping",
                                       **keep, help="Stop when validation loss has not improved for this many "
                                                    "epochs, and keep the best epoch's weights.")
    sources = [NO_TRANSFER] + _transfer_sources(spec)
    if ss.get(p + "init_from") not in sources:
        ss[p + "init_from"] = NO_TRANSFER   # the model changed: that source no longer fits
    init_from = c[3].selectbox("Initialize conv layers from", sources, key=p + "init_from", **keep,
                               help="Transfer: copy the conv feature extractor of a saved model with the same body.")
    raw = {"optimizer": optimizer, "lr": lr, "momentum": momentum, "batch_size": batch_size, "epochs": epochs,
           "schedule": schedule, "step_epoch": step_epoch, "step_factor": step_factor, "decay_rate": decay_rate,
           "early_stopping": early_stopping, "augment_shift": augment_shift, "augment_flip": augment_flip,
           "normalize": normalize, "val_fraction": val_fraction, "subset": subset, "seed": seed,
           "init_from": None if init_from == NO_TRANSFER else init_from, "precision": precision}
    hp, errors = run_widgets.hparam_errors(raw)
    if errors:
        st.error("Fix these before training (Train stays off until then):\n\n"
                 + "\n".join(f"- **{field}**: {msg}" for field, msg in errors.items()))
        return None
    augmentation_preview(hp)
    from fmnist_core.modeling.timing import train_set_size
    n_train, n_val = train_set_size(hp)
    st.caption(f"Each epoch: {n_train:,} training and {n_val:,} validation images "
               f"({-(-n_train // hp['batch_size'])} batches). The test set is only used for the final score.")
    return hp


@st.cache_data(show_spinner="Augmenting a few training images…", max_entries=32)
def _preview(hp_json: str) -> dict:
    from fmnist_core.insight.augment_preview import augmentation_preview
    return augmentation_preview(json.loads(hp_json))


def augmentation_preview(hp) -> None:
    """The same training images under the chosen augmentation, made by the training pipeline's own code."""
    if not (hp["augment_shift"] or hp["augment_flip"]):
        return
    if not st.toggle("Preview the augmentation", key="bt_aug_preview",
                     help="The first training image of 8 classes, and 4 random draws of the augmentation that "
                          "training applies to them (a new draw every epoch)."):
        return
    keys = ("augment_shift", "augment_flip", "normalize", "seed", "subset", "val_fraction")
    res = _preview(json.dumps({k: hp[k] for k in keys}, sort_keys=True))
    from ui.images.tiles import gallery
    n = len(res["labels"])
    gallery(list(res["originals"]) + [img for draw in res["augmented"] for img in draw],
            [f"{c} (original)" for c in res["labels"]] + [f"draw {d + 1}" for d in range(len(res["augmented"]))
                                                          for _ in range(n)], ncols=n, factor=3)


def _transfer_sources(spec) -> list[str]:
    """Saved models whose conv feature extractor (layers before Flatten) matches this spec's."""
    body = jobs.conv_body   # the same rule the job queue checks --init-from with
    try:
        mine = body(models.normalize_spec(spec))
    except models.SpecError:
        return []
    if not any(layer["type"] == "Conv2D" for layer in mine):
        return []
    names = []
    for meta in saving.list_models():
        try:
            if meta.get("spec") and body(models.normalize_spec(meta["spec"])) == mine:
                names.append(meta["name"])
        except models.SpecError:
            continue
    return names


# ---------------------------------------------------------------- submitting runs

def watch(run_id: int) -> None:
    ss.bt_watch_id = int(run_id)
    st.query_params["run"] = str(run_id)


def train_and_sweep(spec, task, hp) -> None:
    ok = hp is not None and spec is not None
    label = ss.get("bt_origin") or "custom"
    default = run_widgets.default_run_name(label, task, hp["epochs"]) if ok and task else "my-run"
    c1, c2 = st.columns(2)
    name = c1.text_input("Run name (optional)", key="bt_name", placeholder=default)
    model_name = c2.text_input("Save the model as (optional)", key="bt_model_name", placeholder=default,
                               help="1-64 letters, digits, - or _. Defaults to the run name (plus -2, -3... "
                                    "if that model exists).")
    if st.button("Train", icon=":material/rocket_launch:", type="primary", disabled=not ok, key="bt_train"):
        store = run_widgets.get_store()
        try:
            rid = jobs.submit(spec, task, hp, name=name.strip() or default,
                              model_name=model_name.strip() or run_widgets.unique_model_name(default, store),
                              store=store, owner=identity.current_owner())
        except ValueError as exc:
            st.error(f"Could not start the run: {exc}")
        else:
            watch(rid)
            live.request_scroll()
            st.toast(f"Run #{rid} queued; its live view is below.")
    with st.expander("Sweep: train one run per value of a hyperparameter (or a grid over two)"):
        c1, c2 = st.columns([1, 2])
        param = c1.selectbox("Vary", list(SWEEP_EXAMPLES), key="bt_sweep_param")
        text = c2.text_input("Values, comma-separated", key="bt_sweep_values", placeholder=SWEEP_EXAMPLES[param])
        c1, c2 = st.columns([1, 2])
        param2 = c1.selectbox("And vary (a grid)", [NO_GRID] + [p for p in SWEEP_EXAMPLES if p != param],
                              key="bt_sweep_param2", help="Every combination of the two lists is one run.")
        text2 = c2.text_input("Its values, comma-separated", key="bt_sweep_values2", disabled=param2 == NO_GRID,
                              placeholder=SWEEP_EXAMPLES.get(param2, ""))
        values = [v.strip() for v in text.split(",") if v.strip()]
        values2 = [v.strip() for v in text2.split(",") if v.strip()] if param2 != NO_GRID else []
        grid = dict(param2=param2, values2=values2) if values2 else {}
        base = {"spec": spec, "task": task, "hparams": hp, "name": label}
        plans = None
        if values and ok:
            try:
                plans = (jobs.plan_grid(base, param, values, param2, values2) if grid
                         else jobs.plan_sweep(base, param, values))
            except ValueError as exc:
                st.error(f"Sweep: {exc}")
        if plans:
            st.caption(f"{len(plans)} runs, one after another: " + "; ".join(plain(p["name"]) for p in plans))
        if st.button(f"Start sweep ({len(plans or [])} runs)", disabled=not plans, key="bt_sweep"):
            try:
                sweep_id, ids = jobs.submit_sweep(base, param, values, store=run_widgets.get_store(), **grid,
                                                  owner=identity.current_owner())
            except ValueError as exc:
                st.error(f"Sweep: {exc}")
            else:
                watch(ids[0])
                live.request_scroll()
                handoff.offer_sweep(sweep_id)
                st.success(f"Sweep {sweep_id} queued: runs {', '.join(f'#{i}' for i in ids)}. Compare them on "
                           "the Compare runs page when they finish.")
                frame.page_link(run_widgets.COMPARE_PAGE, "Compare runs", ":material/compare_arrows:")


# ---------------------------------------------------------------- the page

st.title("Build & Train")
if "bt_layers" not in ss:
    ss.bt_preset = DEFAULT_PRESET
    _load_preset()

live.active_banner()

st.subheader("1. Task")
task = run_widgets.task_picker("bt")

st.subheader("2. Model")
c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
c1.selectbox("Start from a preset", list(models.PRESETS), key="bt_preset", persist_state="session",
             format_func=lambda n: f"{n}: {models.PRESET_DESCRIPTIONS[n]}")
c2.button("Load preset into the editor", on_click=_load_preset, width="stretch",
          help="Replaces the layers below with the preset's layers")
st.caption(f"Editing: **{ss.get('bt_origin') or 'custom'}**. The output layer is added for the task "
           "(softmax over the classes, or one sigmoid unit for a binary task).")
if ss.get("bt_recipe"):
    st.caption(f"Loaded with its training recipe ({run_widgets.recipe_text(models.RECIPES[ss.bt_recipe])}): "
               "the fields in step 3 show it, and every one stays editable.")
layer_editor()
spec = current_spec()
spec_ok = task is not None and summary(spec, task)

st.subheader("3. Hyperparameters")
hp = hparams_form(spec)
handoff.publish_build_settings(handoff.BuildSettings(   # for the LR Finder, as they are now
    spec=spec, origin=ss.get("bt_origin") or "custom", task=ss.get("bt_task"),
    task_classes=ss.get("bt_task_classes"), batch_size=ss.get("bt_hp_batch_size"),
    optimizer=ss.get("bt_hp_optimizer"), precision=ss.get("bt_hp_precision")))
if spec_ok and hp is not None:
    time_estimate(spec, task, hp)

st.subheader("4. Train")
cluster.cluster_panel()
train_and_sweep(spec if spec_ok else None, task, hp)

st.subheader("Live run", anchor="live-run")
live.live_run_section(watch)
live.scroll_to("live-run")
