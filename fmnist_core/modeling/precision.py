"""Precision ``auto``: pick float32, mixed_bfloat16 or mixed_float16 by measuring this machine.

bfloat16 is ~1.5-2x faster than float32 on CPUs with native bfloat16 (AVX512_BF16, AMX), but
where TensorFlow must emulate it, it is several times *slower* (7.8x on the old quick preset with
``TF_ENABLE_ONEDNN_OPTS=0``), and with oneDNN capped below AVX-512 its convolutions do not run at
all. Students bring all of these machines, so no precision is right everywhere: the first run on a
machine times a few real training steps of a probe model in both precisions and keeps bfloat16
only where it works and is clearly faster. A visible GPU gets mixed_float16. The quick model's
step is timed too: the app's time estimates come from it.

The decision is cached in ``~/.fmnist-lab/precision.json``, keyed by what decides it: CPU model,
architecture, TensorFlow version, the oneDNN settings and the visible GPUs. A damaged cache is
measured again, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fmnist_core.modeling.precision_probe import (
    PROBE,
    REFERENCE_BATCH,
    REFERENCE_PRESET,
    measure_steps,
    short_error,
)
from fmnist_core.schema.hparams import PRECISIONS

CONCRETE = tuple(p for p in PRECISIONS if p != "auto")
MAX_MEASUREMENTS = 3  # a marginal answer is measured again, up to this many times in all
CLEARLY_FASTER = 0.85  # bfloat16 is kept only when its step takes <= 85% of float32's
CACHE_VERSION = 2  # 2: the fastest step, not the median (noisy on a busy machine)
ENV_THAT_MATTERS = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "CUDA_VISIBLE_DEVICES")


class PrecisionUnsupportedError(RuntimeError):
    """A chosen precision cannot run on this machine; the message says what to choose instead."""


class PrecisionChoice(BaseModel):
    """What ``auto`` means on this machine, and why (one line for the UI)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    precision: str = Field(pattern="^(float32|mixed_bfloat16|mixed_float16)$")
    reason: str = Field(min_length=1, max_length=300)
    float32_step_s: float | None = Field(default=None, gt=0)
    bfloat16_step_s: float | None = Field(default=None, gt=0)
    bfloat16_error: str | None = Field(default=None, max_length=300)
    quick_float32_s: float | None = Field(default=None, gt=0)  # the quick model's step, for time estimates
    quick_bfloat16_s: float | None = Field(default=None, gt=0)
    measured_at: float = Field(gt=0)
    machine: dict[str, str]
    measurements: int = Field(default=1, ge=1)  # how many measurements the step times are the fastest of

    @property
    def settled(self) -> bool:
        """Whether to stop measuring: the answer is clear, or ``MAX_MEASUREMENTS`` have been taken. A
        bfloat16 faster but not clearly so is measured again (at the next run, ~10 s): on a busy machine
        one measurement once called a 2x faster bfloat16 "only 1.14x faster"."""
        ratio = self.ratio
        marginal = ratio is not None and CLEARLY_FASTER < ratio < 1.0
        return not marginal or self.measurements >= MAX_MEASUREMENTS

    @property
    def ratio(self) -> float | None:
        """bfloat16's step time over float32's (>1: bfloat16 is slower)."""
        if self.float32_step_s and self.bfloat16_step_s:
            return self.bfloat16_step_s / self.float32_step_s
        return None


def machine_key() -> dict[str, str]:
    """What decides the choice, and nothing else (so a different laptop measures again)."""
    return {**_light_key(), "gpus": ",".join(_gpu_names())}


def _light_key() -> dict[str, str]:
    """The key without the GPUs, which only TensorFlow can list: readable without importing it."""
    from fmnist_core.modeling.models import preset

    reference = hashlib.sha256(json.dumps([preset(REFERENCE_PRESET), PROBE], sort_keys=True).encode()).hexdigest()[:12]
    key = {
        "cpu": _cpu_model(),
        "arch": platform.machine().lower(),
        "os": platform.system(),
        "tensorflow": _tf_version(),
        "reference": f"{REFERENCE_PRESET}:{reference}@{REFERENCE_BATCH}",
    }
    key.update({v: os.environ.get(v, "") for v in ENV_THAT_MATTERS})
    return key


def _tf_version() -> str:
    from importlib import metadata

    for dist in ("tensorflow-cpu", "tensorflow", "tensorflow-macos"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(dist)
    return "none"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.split(":")[0].strip() in ("model name", "Model", "Hardware"):
                return line.split(":", 1)[1].strip()
    if platform.system() == "Darwin":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
            )
            if out.stdout.strip():
                return out.stdout.strip()
    return platform.processor() or "unknown"


def _gpu_names() -> list[str]:
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def cache_path(home: Path | None = None) -> Path:
    """``~/.fmnist-lab/precision.json``: per machine and user, not per lab home, so that every
    ``FMNIST_HOME`` (a class's, a test's temporary one) shares one measurement of the same CPU."""
    return (home or Path.home() / ".fmnist-lab") / "precision.json"


def _key_id(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def cached_choice(home: Path | None = None, key: dict | None = None) -> PrecisionChoice | None:
    """The stored decision for this machine, or None (absent, for another machine, or damaged)."""
    try:
        entries = json.loads(cache_path(home).read_text())
        raw = entries.get("entries", {}).get(_key_id(key or machine_key()))
        if entries.get("version") != CACHE_VERSION or raw is None:
            return None
        return PrecisionChoice.model_validate(raw)
    except (OSError, ValueError, AttributeError, ValidationError):
        return None  # a damaged cache costs one measurement, nothing else


def known_choice(home: Path | None = None) -> PrecisionChoice | None:
    """The decision already measured on this machine, read without importing TensorFlow (for pages
    that must open fast); None before the first measurement."""
    light = _light_key()
    try:
        data = json.loads(cache_path(home).read_text())
        entries = data.get("entries", {}) if data.get("version") == CACHE_VERSION else {}
        for raw in entries.values():
            choice = PrecisionChoice.model_validate(raw)
            if {k: v for k, v in choice.machine.items() if k != "gpus"} == light:
                return choice
    except (OSError, ValueError, AttributeError, ValidationError):
        pass
    return None


def step_seconds(choice: PrecisionChoice) -> float | None:
    """Measured seconds of one training step of the reference model (``REFERENCE_PRESET`` at batch
    ``REFERENCE_BATCH``) in the precision ``auto`` chose: the base of the app's time estimates."""
    if choice.precision == "mixed_bfloat16":
        return choice.quick_bfloat16_s
    return choice.quick_float32_s


def _store(choice: PrecisionChoice, home: Path | None) -> None:
    from fmnist_core.modeling.saving import atomic_write_json

    path = cache_path(home)
    try:
        entries = json.loads(path.read_text()).get("entries", {})
        entries = entries if isinstance(entries, dict) else {}
    except (OSError, ValueError, AttributeError):
        entries = {}
    entries[_key_id(choice.machine)] = choice.model_dump()
    with contextlib.suppress(OSError):  # a read-only home measures again next time; training goes on
        atomic_write_json(path, {"version": CACHE_VERSION, "entries": entries})


def choose_precision(home: Path | None = None, refresh: bool = False, measure=None) -> PrecisionChoice:
    """This machine's precision for ``auto``: cached, else measured now (~5-15 s) and cached.

    measure : ``() -> (float32_step_s, bfloat16_step_s or None, bfloat16_error or None)``; default
        :func:`measure_steps`. Injected by tests to check the decision without timing anything.
    """
    key = machine_key()
    if not refresh:
        choice = cached_choice(home, key)
        if choice is not None and choice.settled:
            return choice
    with _measure_lock(cache_path(home)):
        before = None if refresh else cached_choice(home, key)  # another process may have measured
        if before is not None and before.settled:
            return before
        choice = decide(key, *(measure or measure_steps)())
        if before is not None:  # each step time is the fastest seen: load only ever slows a step down
            choice = _merged(before, choice, key)
        _store(choice, home)
    return choice


def _merged(before: PrecisionChoice, now: PrecisionChoice, key: dict) -> PrecisionChoice:
    def fastest(a, b):
        return min(v for v in (a, b) if v is not None) if (a is not None or b is not None) else None

    merged = decide(
        key,
        fastest(before.float32_step_s, now.float32_step_s),
        fastest(before.bfloat16_step_s, now.bfloat16_step_s),
        now.bfloat16_error,
        fastest(before.quick_float32_s, now.quick_float32_s),
        fastest(before.quick_bfloat16_s, now.quick_bfloat16_s),
    )
    return merged.model_copy(update={"measurements": before.measurements + 1})


def decide(
    key: dict,
    f32_s: float | None,
    bf16_s: float | None,
    bf16_error: str | None,
    quick_f32_s: float | None = None,
    quick_bf16_s: float | None = None,
) -> PrecisionChoice:
    """The rule, apart from the measuring: a GPU -> mixed_float16; bfloat16 only when it runs and is clearly
    faster on the probe. The quick model's steps are kept for the app's time estimates."""
    common = {
        "float32_step_s": f32_s,
        "bfloat16_step_s": bf16_s,
        "bfloat16_error": bf16_error,
        "quick_float32_s": quick_f32_s,
        "quick_bfloat16_s": quick_bf16_s,
        "measured_at": time.time(),
        "machine": key,
    }
    if key.get("gpus"):
        return PrecisionChoice(precision="mixed_float16", reason=f"mixed_float16: on the GPU ({key['gpus']})", **common)
    if bf16_error or not bf16_s or not f32_s:
        why = (bf16_error or "not measured")[:120]
        return PrecisionChoice(
            precision="float32", reason=f"float32: bfloat16 does not run on this CPU ({why})", **common
        )
    ratio = bf16_s / f32_s
    if ratio <= CLEARLY_FASTER:
        return PrecisionChoice(
            precision="mixed_bfloat16",
            reason=f"mixed_bfloat16: this CPU has fast bfloat16 (measured {1 / ratio:.1f}x faster than float32)",
            **common,
        )
    if ratio >= 1.0:
        why = f"measured {ratio:.1f}x slower"
    else:
        why = f"measured only {1 / ratio:.2f}x faster"
    return PrecisionChoice(precision="float32", reason=f"float32: this CPU has no fast bfloat16 ({why})", **common)


@contextlib.contextmanager
def _measure_lock(path: Path):
    """One measurement at a time per home: two processes measuring at once would time each other."""
    from filelock import FileLock, Timeout

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path) + ".lock")
        lock.acquire(timeout=120)
    except (OSError, Timeout):
        yield  # a read-only home or a stuck peer: measure anyway, unlocked
        return
    try:
        yield
    finally:
        lock.release()


def resolve(precision: str, home: Path | None = None) -> tuple[str, str | None]:
    """(concrete precision, the reason when it was chosen by ``auto``)."""
    if precision in CONCRETE:
        return precision, None
    if precision != "auto":
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    choice = choose_precision(home)
    return choice.precision, choice.reason


def keeps_bfloat16(home: Path | None = None) -> bool:
    """Whether a bfloat16 model may compute in bfloat16 here: only where ``auto`` measured it runs and
    is fast. Before that measurement, no: float32 always runs, bfloat16 may not (oneDNN below AVX-512)."""
    choice = known_choice(home)
    return choice is not None and choice.precision == "mixed_bfloat16"


def float32_twin(model):
    """``model`` itself when it computes in float32; else the same layers and weights computing in
    float32. A mixed-precision model keeps its weights in float32, so nothing is lost but the rounding:
    used where bfloat16 cannot run or is slow (the shipped models are bfloat16-trained), and for TFLite,
    whose builtin ops have no bfloat16."""
    import keras

    if all(layer.compute_dtype == "float32" for layer in model.layers):
        return model

    def in_float32(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    twin = keras.models.clone_model(model, clone_function=in_float32)
    twin.set_weights(model.get_weights())
    return twin


def unsupported(precision: str, exc: BaseException) -> PrecisionUnsupportedError:
    """The one-line error for a run whose chosen precision failed at its first step."""
    return PrecisionUnsupportedError(
        f"{precision} does not run on this machine ({short_error(exc)}); choose precision auto or float32"
    )
