"""'Take it with you': download a model as .keras, as a checked TFLite file, or as a standalone
training script. One call, ``take_it_with_you(name)``, used by Evaluate and Compare runs."""

from __future__ import annotations

import streamlit as st

from fmnist_core.modeling import export
from fmnist_core.modeling.saving import ModelNotFoundError, find_model
from ui.app import layout


def take_it_with_you(name: str | None, key: str = "exp") -> None:
    """An expander with the three downloads of saved model ``name`` (nothing when there is none)."""
    if not name:
        return
    with st.expander(
        "Take it with you: download the model, a TFLite file or its training script", icon=":material/download:"
    ):
        try:
            find_model(name)
        except ModelNotFoundError:
            st.caption(f"The model file of `{name}` is gone; there is nothing to download.")
            return
        with layout.stacked(f"{key}_exp"):  # one under the other at 820 px, where the file names were cut off
            c1, c2, c3 = st.columns(3)
        with c1:
            st.markdown("**Keras model**")
            st.download_button(
                export.file_name(name, "keras"),
                data=lambda: export.keras_file(name),
                file_name=export.file_name(name, "keras"),
                mime="application/octet-stream",
                icon=":material/download:",
                key=f"{key}_keras_{name}",
                on_click="ignore",
            )
            st.caption(
                "Architecture and weights. `keras.saving.load_model(path)`; inputs float32 "
                "(n, 28, 28, 1) scaled as in training."
            )
        with c2:
            _tflite(name, key)
        with c3:
            st.markdown("**Training script**")
            fname = export.file_name(name, "script")
            try:
                source = export.script_for(name)
            except ValueError as exc:
                st.caption(str(exc))
            else:
                st.download_button(
                    fname,
                    data=source,
                    file_name=fname,
                    mime="text/x-python",
                    icon=":material/code:",
                    key=f"{key}_script_{name}",
                    on_click="ignore",
                )
                st.caption(
                    "Plain Keras, no lab code: rebuilds this exact model, loads Fashion-MNIST and "
                    "trains it with this run's hyperparameters. Quick check:"
                )
                st.code(f"python {fname} --epochs 1 --subset 2000", language="bash", wrap_lines=True)
        st.caption(
            f"The same from the command line: `python -m fmnist_core export -mn {name} --format keras|tflite|script`"
        )


def _tflite(name: str, key: str) -> None:
    st.markdown("**TensorFlow Lite**")
    if not st.toggle(
        "Convert and check",
        key=f"{key}_tflite_{name}",
        help="tf.lite.TFLiteConverter, then both models classify the first 1,000 test images",
    ):
        st.caption(
            "Converts with TensorFlow's own converter and checks the result against the Keras "
            "model on 1,000 test images."
        )
        return
    with st.spinner("Converting and checking on 1,000 test images…"):
        res = export.tflite_export(name)
    if res.passed:
        st.download_button(
            export.file_name(name, "tflite"),
            data=res.data,
            file_name=export.file_name(name, "tflite"),
            mime="application/octet-stream",
            icon=":material/download:",
            key=f"{key}_tflite_dl_{name}",
            on_click="ignore",
        )
        st.caption(f"✓ {res.summary()}. {len(res.data):,} bytes. Input: {res.input_note}.")
    else:
        st.error(f"{res.summary()}: below the threshold, so no download is offered.")
