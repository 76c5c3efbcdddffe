"""The hyperparameters of one training run, with every bound and choice written once.

The CLI's flags (``cli.common``), Build & Train's form (``ui.training.run_widgets.hparam_errors``), the job
queue (``runs.checks``) and ``training.train`` all validate through ``HParams``, so they accept and
refuse the same values (``tests/test_schema_agreement.py``).

Strict types: an integer field takes an int (not 2.5, "3" or True); a float field takes an int or
a float, never NaN or infinity. Unknown keys are refused. Every error is one line naming the field
and what it accepts (``messages``).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from fmnist_core.schema.messages import choices, field_errors, one_line
from fmnist_core.schema.names import check_name

Optimizer = Literal["adam", "sgd", "rmsprop"]
Schedule = Literal["constant", "step", "exponential", "cosine", "onecycle"]
# "auto" is resolved to one of the others by measuring this machine (modeling.precision).
# mixed_bfloat16: bfloat16 compute, float32 weights; on this project's AVX512_BF16 CPUs ~1.5x faster
# per epoch than float32 at the same accuracy (see BENCHMARKS.md, recipe section).
Precision = Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"]

MAX_SEED = 2**32 - 1  # NumPy and TensorFlow seeds are unsigned 32-bit
MAX_IMAGES = 60000  # the training split
MIN_SPLIT = 10  # the stratified split needs one image per class on each side


class HParamsError(ValueError):
    """Bad hyperparameters; the message is one line naming each bad field and what it accepts."""


class Fields(BaseModel):
    """The fields and their rules; ``HParams`` adds the one-line errors (kept apart because pydantic
    runs an overridden ``__init__`` inside validation, where ``HParams.errors`` needs the raw errors)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, validate_assignment=True)

    optimizer: Optimizer = "adam"
    lr: float = Field(1e-3, gt=0, le=10, title="learning rate")
    momentum: float = Field(0.9, ge=0, lt=1, title="SGD momentum")
    batch_size: int = Field(128, ge=1, le=8192, title="batch size")
    epochs: int = Field(5, ge=1, le=500)
    schedule: Schedule = "constant"
    step_epoch: int = Field(5, ge=1, le=500, title="step: keep the LR until this epoch")
    step_factor: float = Field(0.5, gt=0, le=1, title="step factor")  # then multiply it by this each epoch
    decay_rate: float = Field(0.9, gt=0, le=1, title="exponential decay rate")  # LR multiplied by this per epoch
    early_stopping: int = Field(0, ge=0, le=500, title="early-stopping patience in epochs, 0 = off")
    augment_shift: float = Field(0.0, ge=0, le=0.3, title="augment shift")  # max shift, fraction of the image
    augment_flip: bool = False  # random horizontal flip
    augment_erase: float = Field(0.0, ge=0, le=1, title="augment erase")  # P(blank a random rectangle)
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, title="label smoothing")  # (1 - e) one-hot + e / classes
    precision: Precision = "auto"
    normalize: bool = True  # scale pixels to [0, 1]
    val_fraction: float = Field(0.1, ge=0.05, le=0.5, title="validation share")
    subset: int | None = Field(None, ge=1, le=MAX_IMAGES, title="training images; None = all")
    seed: int = Field(42, ge=0, le=MAX_SEED)
    # A saved model whose conv layers initialize this one (transfer).
    init_from: Annotated[str, AfterValidator(check_name)] | None = Field(
        None, json_schema_extra={"allowed": "a saved model's name (1-64 letters, digits, '-' or '_')"}
    )

    @model_validator(mode="after")
    def _split_fits(self):
        if self.subset is not None:
            n_val = math.ceil(self.subset * self.val_fraction)
            if n_val < MIN_SPLIT or self.subset - n_val < MIN_SPLIT:
                least = next(
                    n
                    for n in range(2 * MIN_SPLIT, MAX_IMAGES + 1)
                    if MIN_SPLIT <= math.ceil(n * self.val_fraction) <= n - MIN_SPLIT
                )
                raise ValueError(
                    f"subset {self.subset} is too small: the validation split ({self.val_fraction:.0%}) "
                    f"needs at least {MIN_SPLIT} images, one per class; use --subset {least} or more"
                )
        return self


class HParams(Fields):
    """Hyperparameters of one training run. Made or changed only with valid values (HParamsError)."""

    def __init__(self, **data):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise HParamsError(one_line(exc, HParams.model_fields, unknown="hyperparameter")) from None

    def __setattr__(self, name, value):
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise HParamsError(one_line(exc, HParams.model_fields, unknown="hyperparameter")) from None

    def validate(self) -> HParams:
        """Checked already (on creation and on every change): here for callers that ask."""
        return self

    def to_dict(self) -> dict:
        return self.model_dump()

    @classmethod
    def from_dict(cls, d: dict | HParams | None) -> HParams:
        """HParams from a dict (missing keys take their defaults); HParamsError in one line."""
        return cls(**(d.to_dict() if isinstance(d, HParams) else dict(d or {})))

    @classmethod
    def errors(cls, d: dict) -> dict[str, str]:
        """{field name: one line} for every bad field of ``d`` ({} when it is valid); an unknown key
        is reported under "*", a rule across fields (the subset's split) under ""."""
        try:
            Fields.model_validate(d)
        except ValidationError as exc:
            return field_errors(exc, cls.model_fields, unknown="hyperparameter")
        return {}

    @classmethod
    def choices(cls, name: str) -> tuple:
        """The allowed values of a choice field (optimizer, schedule, precision)."""
        return choices(cls.model_fields[name])

    @classmethod
    def parse_field(cls, name: str, text: str):
        """One field's value from text (a command-line argument), checked by the same rule; HParamsError."""
        try:
            return _adapter(name).validate_python(text, strict=False)
        except ValidationError as exc:
            raise HParamsError(one_line(exc, cls.model_fields, field=name)) from None


_ADAPTERS: dict[str, TypeAdapter] = {}


def _adapter(name: str) -> TypeAdapter:
    if name not in _ADAPTERS:
        info = HParams.model_fields[name]
        _ADAPTERS[name] = TypeAdapter(Annotated[info.annotation, info], config=ConfigDict(allow_inf_nan=False))
    return _ADAPTERS[name]


OPTIMIZERS = HParams.choices("optimizer")
SCHEDULES = HParams.choices("schedule")
PRECISIONS = HParams.choices("precision")
