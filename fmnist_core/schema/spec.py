"""Model specs: the layer dicts a body is built from, one pydantic model per layer type.

A spec is a list of layer dicts, e.g. ``{"type": "Conv2D", "filters": 32}``; ``normalize_layers``
checks each against its type's model and fills in the defaults (``modeling.models.normalize_spec``
calls it). Whether the layers fit together (shapes, the parameter cap) is ``models.layer_shapes``'
business: that needs the task, not only the values.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fmnist_core.schema.messages import choices, one_line

Activation = Literal["relu", "elu", "selu", "tanh", "sigmoid", "gelu", "swish", "linear"]


class SpecError(ValueError):
    """A model spec that cannot be built; the message says which layer and why."""


class _Layer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Conv2D(_Layer):
    filters: int = Field(32, ge=1, le=1024)
    kernel_size: int = Field(3, ge=1, le=28)
    strides: int = Field(1, ge=1, le=28)
    padding: Literal["same", "valid"] = "same"
    activation: Activation = "relu"


class MaxPool2D(_Layer):
    pool_size: int = Field(2, ge=1, le=28)


class Dense(_Layer):
    units: int = Field(128, ge=1, le=65536)
    activation: Activation = "relu"


class Dropout(_Layer):
    rate: float = Field(0.25, ge=0, lt=1)


class BatchNorm(_Layer):
    pass


class Flatten(_Layer):
    pass


class ActivationLayer(_Layer):
    activation: Activation = "relu"


class GlobalAvgPool(_Layer):
    pass


LAYERS: dict[str, type[_Layer]] = {
    "Conv2D": Conv2D,
    "MaxPool2D": MaxPool2D,
    "Dense": Dense,
    "Dropout": Dropout,
    "BatchNorm": BatchNorm,
    "Flatten": Flatten,
    "Activation": ActivationLayer,
    "GlobalAvgPool": GlobalAvgPool,
}
ACTIVATIONS = choices(Conv2D.model_fields["activation"])
# type -> its parameters with their defaults
LAYER_TYPES = {name: {k: f.default for k, f in model.model_fields.items()} for name, model in LAYERS.items()}


def normalize_layers(spec) -> list[dict]:
    """Each layer checked and completed with its defaults: [{"type": ..., every parameter}]. SpecError
    names the first bad layer."""
    if not isinstance(spec, (list, tuple)):
        raise SpecError("a spec is a list of layer dicts")
    out = []
    for i, layer in enumerate(spec):
        where = f"layer {i + 1}"
        if not isinstance(layer, dict) or layer.get("type") not in LAYERS:
            raise SpecError(f"{where}: type must be one of {', '.join(LAYERS)}")
        model = LAYERS[layer["type"]]
        try:
            values = model.model_validate({k: v for k, v in layer.items() if k != "type"})
        except ValidationError as exc:
            raise SpecError(
                f"{where} ({layer['type']}): {one_line(exc, model.model_fields, unknown='parameter')}"
            ) from None
        out.append({"type": layer["type"], **values.model_dump()})
    return out
