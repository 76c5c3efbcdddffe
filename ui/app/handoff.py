"""Every hand-off from one page to another, typed: a page never reads or writes another page's
session-state keys (``tests/test_handoffs.py`` checks pages/ for that), it goes through here.

- ``BuildSettings``: Build & Train's model and training settings, which the LR Finder starts from.
- ``LrOffer``: the LR the LR Finder found, with the model and optimizer it was found for, which
  Build & Train takes as its learning rate.
- ``ClassifyImage``: an image opened in Classify from another page (Evaluate, Dataset, the binary
  study), with its true label when known.
- ``watch_run``: a run to watch on Build & Train (from Compare runs).
- ``offer_sweep`` / ``take_sweep``: the sweep Compare runs opens on (a sweep just queued on Build & Train).

Each record is kept in session state as a plain dict under its own key and read back through its
model, so a value that is missing or malformed reads as None instead of failing a page.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import streamlit as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fmnist_core.data import fashion_mnist as fdata
from ui.app import frame

BUILD_PAGE = "pages/build_train.py"
CLASSIFY_PAGE = "pages/classify.py"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


def _put(key: str, record: _Record) -> None:
    st.session_state[key] = record.model_dump()


def _get(key: str, model: type[_Record]):
    value = st.session_state.get(key)
    if value is None:
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


# ---------------------------------------------------------------- Build & Train -> LR Finder

BUILD_SETTINGS_KEY = "handoff_build_settings"


class BuildSettings(_Record):
    """What Build & Train holds, as its widgets show it (task and classes as its task picker's values)."""

    spec: list[dict[str, Any]]
    origin: str  # the preset it was loaded from, or "custom"
    task: str | None = None  # run_widgets.task_picker's choice: "multiclass", ..., "custom"
    task_classes: list[str] | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    precision: str | None = None


def publish_build_settings(settings: BuildSettings) -> None:
    """Called by Build & Train on every run, so the LR Finder sees its settings as they are now."""
    _put(BUILD_SETTINGS_KEY, settings)


def build_settings() -> BuildSettings | None:
    """Build & Train's settings, or None when it has not been opened in this session."""
    return _get(BUILD_SETTINGS_KEY, BuildSettings)


# ---------------------------------------------------------------- LR Finder -> Build & Train

LR_OFFER_KEY = "lr_from_finder"


class LrOffer(_Record):
    lr: float = Field(gt=0)
    suggestion: str  # which suggestion, as the LR Finder labels it ("valley", ...)
    model: str  # the model it was found for, in words
    optimizer: str
    spec_key: str  # run_widgets.spec_key of that model
    at: float = Field(default_factory=time.time)  # two offers of the same LR are still two offers


def offer_lr(offer: LrOffer) -> None:
    """Hand an LR to Build & Train and go there."""
    _put(LR_OFFER_KEY, offer)
    frame.go_to(BUILD_PAGE)


def lr_offer() -> LrOffer | None:
    return _get(LR_OFFER_KEY, LrOffer)


# ---------------------------------------------------------------- any page -> Classify

CLASSIFY_KEY = "classify_handoff"
INPUT_KEY = "cls_input"  # the Classify page's input selector, which opens on the image
INPUT_LABEL = "Opened image"  # its option for a handed-over image


class ClassifyImage(_Record):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    image: np.ndarray  # uint8 (28, 28), light on black as in the data set
    true_label: int | None = None  # its 10-class label, or None when unknown
    source: str = ""  # where it came from, shown as plain text

    @field_validator("image", mode="before")
    @classmethod
    def _image(cls, image) -> np.ndarray:
        arr = np.asarray(image)
        if arr.shape != (28, 28):
            raise ValueError(f"open_in_classify expects one 28x28 grayscale image, got shape {arr.shape}")
        if arr.dtype != np.uint8 and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"open_in_classify expects uint8 pixels 0-255, got {arr.dtype}")
        return arr.astype(np.uint8)  # a copy: the caller's array may change afterwards

    @field_validator("true_label", mode="before")
    @classmethod
    def _label(cls, label):
        if label is None:
            return None
        if (
            isinstance(label, bool)
            or not isinstance(label, (int, np.integer))
            or not 0 <= int(label) < len(fdata.CLASS_NAMES)
        ):
            raise ValueError(f"true_label must be a class index 0-9 or None, got {label!r}")
        return int(label)

    @property
    def true_label_text(self) -> str | None:
        return None if self.true_label is None else fdata.CLASS_NAMES[self.true_label]


def open_in_classify(image_uint8_28x28, true_label: int | None = None, source: str = "") -> None:
    """Show an image on the Classify page (what an "Open in Classify" button calls): it opens there with
    its true label, the prediction marked right or wrong, and its saliency map. Raises ValueError for
    anything but a 28x28 image with pixels 0-255, or a label outside 0-9."""
    _put(CLASSIFY_KEY, ClassifyImage(image=image_uint8_28x28, true_label=true_label, source=str(source)))
    st.session_state[INPUT_KEY] = INPUT_LABEL
    frame.go_to(CLASSIFY_PAGE)


def pending() -> ClassifyImage | None:
    """The image handed to Classify, or None."""
    return _get(CLASSIFY_KEY, ClassifyImage)


# ---------------------------------------------------------------- Compare runs -> Build & Train


def watch_run(run_id: int) -> None:
    """Open Build & Train watching run ``run_id``: its ``?run=`` address, which a reload keeps too."""
    try:
        st.switch_page(BUILD_PAGE, query_params={"run": str(int(run_id))})
    except st.errors.StreamlitAPIException:  # a page run on its own, outside the navigation
        st.info("Open Build & Train from the navigation to watch it.")


# ---------------------------------------------------------------- Build & Train -> Compare runs

SWEEP_KEY = "handoff_sweep"


class SweepOffer(_Record):
    sweep_id: str


def offer_sweep(sweep_id: str) -> None:
    """Have Compare runs open on this sweep the next time it is shown."""
    _put(SWEEP_KEY, SweepOffer(sweep_id=str(sweep_id)))


def take_sweep() -> str | None:
    """The sweep offered to Compare runs, once (then the user's own choice stands)."""
    offer = _get(SWEEP_KEY, SweepOffer)
    st.session_state.pop(SWEEP_KEY, None)
    return offer.sweep_id if offer else None
