"""Build & Train's hyperparameter form: the defaults, the LR Finder's offer, transfer sources and the
augmentation preview. Every value is checked by ``run_widgets.hparam_errors`` before Train is on.
"""

import json

import streamlit as st

from fmnist_core.modeling import models, saving
from fmnist_core.modeling.training import OPTIMIZERS, PRECISIONS, SCHEDULES
from fmnist_core.runs import jobs
from ui.app import handoff, machine
from ui.training import run_widgets

NO_TRANSFER = "(random initialization)"
# Quick defaults: a few thousand images train in seconds on a CPU; the full 60k is one edit away.
HP_DEFAULTS = {
    "optimizer": "adam",
    "lr": 1e-3,
    "momentum": 0.9,
    "batch_size": 128,
    "epochs": 3,
    "schedule": "constant",
    "step_epoch": 5,
    "step_factor": 0.5,
    "decay_rate": 0.9,
    "early_stopping": 0,
    "augment_shift": 0.0,
    "augment_flip": False,
    "normalize": True,
    "val_fraction": 0.1,
    "subset": 6000,
    "seed": 42,
    "precision": "auto",
}

ss = st.session_state


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


def _lr_offer_note(lr, spec) -> None:
    """Where the learning rate came from, when it is the LR Finder's, and whether it fits this model."""
    offer = handoff.lr_offer()
    if offer and abs(lr - offer.lr) <= 1e-12 * max(1.0, lr):
        st.info(
            f"Learning rate {offer.lr:.2e} comes from the LR finder ({offer.suggestion} "
            f"suggestion for {offer.model}, {offer.optimizer})."
        )
        if offer.spec_key != run_widgets.spec_key(spec):
            st.warning(
                f"That LR was found for {offer.model}, not for the model below: run the LR finder "
                "on this model for an LR that fits it.",
                icon=":material/warning:",
            )


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
    _lr_offer_note(lr, spec)
    c = st.columns(4)
    epochs = c[0].number_input("Epochs", step=1, key=p + "epochs", **keep)
    schedule = c[1].selectbox(
        "LR schedule",
        SCHEDULES,
        key=p + "schedule",
        **keep,
        help="step: keep the LR, then multiply it by a factor every epoch; exponential: "
        "decay per epoch; cosine: anneal to ~0; onecycle: warm up then anneal.",
    )
    step_epoch = c[2].number_input(
        "Step: keep LR until epoch", step=1, key=p + "step_epoch", disabled=schedule != "step", **keep
    )
    step_factor = c[3].number_input(
        "Step factor / epoch", step=0.05, key=p + "step_factor", disabled=schedule != "step", **keep
    )
    c = st.columns(4)
    decay_rate = c[0].number_input(
        "Exponential decay / epoch", step=0.05, key=p + "decay_rate", disabled=schedule != "exponential", **keep
    )
    subset = c[1].number_input(
        "Training images",
        step=1000,
        key=p + "subset",
        **keep,
        help="A stratified subset of the 60,000 training images (60000 = all of them). "
        "A few thousand train in seconds on a CPU.",
    )
    val_fraction = c[2].number_input("Validation share", step=0.05, key=p + "val_fraction", **keep)
    seed = c[3].number_input("Seed", step=1, key=p + "seed", **keep)
    c = st.columns(4, vertical_alignment="bottom")
    augment_shift = c[0].slider(
        "Augment: max shift",
        0.0,
        0.3,
        step=0.05,
        key=p + "augment_shift",
        **keep,
        help="Random translation as a fraction of the image: 0.1 ≈ 3 pixels.",
    )
    augment_flip = c[1].checkbox("Augment: flip", key=p + "augment_flip", **keep, help="Random horizontal flip")
    precision = c[0].selectbox(
        "Precision",
        PRECISIONS,
        key=p + "precision",
        **keep,
        help="auto: measured on this computer. mixed_bfloat16: bfloat16 compute, float32 "
        "weights (fast only on CPUs with native bfloat16). mixed_float16: for GPUs.",
    )
    c[0].caption(machine.precision_caption(precision))
    normalize = c[1].checkbox(
        "Normalize to [0, 1]",
        key=p + "normalize",
        **keep,
        help="Scale pixels from 0-255 to 0-1. Unticked, small models train much worse.",
    )
    early_stopping = c[2].number_input(
        "Early stopping patience (0 = off)",
        step=1,
        key=p + "early_stopping",
        **keep,
        help="Stop when validation loss has not improved for this many epochs, and keep the best epoch's weights.",
    )
    sources = [NO_TRANSFER] + _transfer_sources(spec)
    if ss.get(p + "init_from") not in sources:
        ss[p + "init_from"] = NO_TRANSFER  # the model changed: that source no longer fits
    init_from = c[3].selectbox(
        "Initialize conv layers from",
        sources,
        key=p + "init_from",
        **keep,
        help="Transfer: copy the conv feature extractor of a saved model with the same body.",
    )
    raw = {
        "optimizer": optimizer,
        "lr": lr,
        "momentum": momentum,
        "batch_size": batch_size,
        "epochs": epochs,
        "schedule": schedule,
        "step_epoch": step_epoch,
        "step_factor": step_factor,
        "decay_rate": decay_rate,
        "early_stopping": early_stopping,
        "augment_shift": augment_shift,
        "augment_flip": augment_flip,
        "normalize": normalize,
        "val_fraction": val_fraction,
        "subset": subset,
        "seed": seed,
        "init_from": None if init_from == NO_TRANSFER else init_from,
        "precision": precision,
    }
    hp, errors = run_widgets.hparam_errors(raw)
    if errors:
        st.error(
            "Fix these before training (Train stays off until then):\n\n"
            + "\n".join(f"- **{field}**: {msg}" for field, msg in errors.items())
        )
        return None
    augmentation_preview(hp)
    from fmnist_core.modeling.timing import train_set_size

    n_train, n_val = train_set_size(hp)
    st.caption(
        f"Each epoch: {n_train:,} training and {n_val:,} validation images "
        f"({-(-n_train // hp['batch_size'])} batches). The test set is only used for the final score."
    )
    return hp


@st.cache_data(show_spinner="Augmenting a few training images…", max_entries=32)
def _preview(hp_json: str) -> dict:
    from fmnist_core.insight.augment_preview import augmentation_preview

    return augmentation_preview(json.loads(hp_json))


def augmentation_preview(hp) -> None:
    """The same training images under the chosen augmentation, made by the training pipeline's own code."""
    if not (hp["augment_shift"] or hp["augment_flip"]):
        return
    if not st.toggle(
        "Preview the augmentation",
        key="bt_aug_preview",
        help="The first training image of 8 classes, and 4 random draws of the augmentation that "
        "training applies to them (a new draw every epoch).",
    ):
        return
    keys = ("augment_shift", "augment_flip", "normalize", "seed", "subset", "val_fraction")
    res = _preview(json.dumps({k: hp[k] for k in keys}, sort_keys=True))
    from ui.images.tiles import gallery

    n = len(res["labels"])
    gallery(
        list(res["originals"]) + [img for draw in res["augmented"] for img in draw],
        [f"{c} (original)" for c in res["labels"]]
        + [f"draw {d + 1}" for d in range(len(res["augmented"])) for _ in range(n)],
        ncols=n,
        factor=3,
    )


def _transfer_sources(spec) -> list[str]:
    """Saved models whose conv feature extractor (layers before Flatten) matches this spec's."""
    body = jobs.conv_body  # the same rule the job queue checks --init-from with
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


def publish_settings(spec, origin: str) -> None:
    """Build & Train's settings as they are now, for the LR Finder."""
    handoff.publish_build_settings(
        handoff.BuildSettings(
            spec=spec,
            origin=origin,
            task=ss.get("bt_task"),
            task_classes=ss.get("bt_task_classes"),
            batch_size=ss.get("bt_hp_batch_size"),
            optimizer=ss.get("bt_hp_optimizer"),
            precision=ss.get("bt_hp_precision"),
        )
    )
