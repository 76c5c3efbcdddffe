"""Build & Train's model step: the preset picker and the layer editor, whose layers live in the
session (``bt_layers``, each with a stable ``_id`` so its widgets keep their keys while layers move).
"""

import streamlit as st

from fmnist_core.modeling import models
from ui.training import run_widgets
from ui.training.hparam_form import HP_DEFAULTS

AT_END = -1
# Widget settings per layer parameter: (min, max, step) for numbers, options for choices.
NUMBER_PARAMS = {
    "filters": (1, 1024, 8),
    "units": (1, 65536, 16),
    "kernel_size": (1, 28, 1),
    "strides": (1, 28, 1),
    "pool_size": (1, 28, 1),
    "rate": (0.0, 0.95, 0.05),
}
CHOICE_PARAMS = {"padding": ("same", "valid"), "activation": models.ACTIVATIONS}

ss = st.session_state


def _with_ids(spec) -> list[dict]:
    out = []
    for layer in models.normalize_spec(spec):
        ss.bt_next_id = ss.get("bt_next_id", 0) + 1
        out.append({"_id": ss.bt_next_id, **layer})
    return out


def load_preset():
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


def init_layers() -> None:
    """The default preset in the editor on a session's first visit."""
    if "bt_layers" not in ss:
        ss.bt_preset = models.DEFAULT_PRESET
        load_preset()


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


def origin() -> str:
    """Where the model in the editor came from: a preset's name (``(edited)`` once changed), or custom."""
    return ss.get("bt_origin") or "custom"


def current_spec() -> list[dict]:
    return [{k: v for k, v in layer.items() if k != "_id"} for layer in ss.bt_layers]


def preset_picker() -> None:
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    c1.selectbox(
        "Start from a preset",
        list(models.PRESETS),
        key="bt_preset",
        persist_state="session",
        format_func=lambda n: f"{n}: {models.PRESET_DESCRIPTIONS[n]}",
    )
    c2.button(
        "Load preset into the editor",
        on_click=load_preset,
        width="stretch",
        help="Replaces the layers below with the preset's layers",
    )
    st.caption(
        f"Editing: **{origin()}**. The output layer is added for the task "
        "(softmax over the classes, or one sigmoid unit for a binary task)."
    )
    if ss.get("bt_recipe"):
        st.caption(
            f"Loaded with its training recipe ({run_widgets.recipe_text(models.RECIPES[ss.bt_recipe])}): "
            "the fields in step 3 show it, and every one stays editable."
        )


def _param_widget(param, key, label_visibility="visible"):
    if param in CHOICE_PARAMS:
        return st.selectbox(param.replace("_", " "), CHOICE_PARAMS[param], key=key, label_visibility=label_visibility)
    lo, hi, step = NUMBER_PARAMS[param]
    return st.number_input(
        param.replace("_", " "),
        lo,
        hi,
        step=step,
        key=key,
        format="%.2f" if isinstance(step, float) else None,
        label_visibility=label_visibility,
    )


def _layer_row(i, layer, n) -> None:
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
        st.button(
            "",
            icon=":material/arrow_upward:",
            key=f"bt_up{lid}",
            on_click=_move,
            args=(lid, -1),
            disabled=i == 0,
            help="Move up",
            type="tertiary",
        )
        st.button(
            "",
            icon=":material/arrow_downward:",
            key=f"bt_dn{lid}",
            on_click=_move,
            args=(lid, 1),
            disabled=i == n - 1,
            help="Move down",
            type="tertiary",
        )
        st.button(
            "",
            icon=":material/close:",
            key=f"bt_rm{lid}",
            on_click=_remove,
            args=(lid,),
            help="Remove this layer",
            type="tertiary",
        )


def layer_editor() -> None:
    n = len(ss.bt_layers)
    box = st.container(height=620 if n > 6 else "content", border=True, key="bt_layer_editor")
    # A label too long for its column overflows rather than breaking inside a word.
    st.html(
        "<style>.st-key-bt_layer_editor [data-testid='stWidgetLabel'] p {word-break: keep-all; "
        "overflow-wrap: normal; white-space: nowrap;}</style>"
    )
    with box:
        if not n:
            st.info(
                "No hidden layers: the model is the output layer on the flattened image (a linear model). "
                "Add layers below."
            )
        for i, layer in enumerate(ss.bt_layers):
            _layer_row(i, layer, n)
    c1, c2, c3 = st.columns([1, 1, 1], vertical_alignment="bottom")
    c1.selectbox("Layer type", list(models.LAYER_TYPES), key="bt_add_type")
    positions = [AT_END, 0] + list(range(1, n))
    if ss.get("bt_add_pos") not in positions:
        ss.bt_add_pos = AT_END
    c2.selectbox(
        "Position",
        positions,
        key="bt_add_pos",
        format_func=lambda p: "at the end" if p == AT_END else ("at the top" if p == 0 else f"after layer {p}"),
    )
    c3.button("Add layer", icon=":material/add:", on_click=_add, width="stretch")
