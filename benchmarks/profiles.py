"""Machine profiles for the benchmarks: the native 2-core server, and two simulated student laptops.

Students' laptops mostly lack native bfloat16. Two TensorFlow settings reproduce that on this
machine, set before TensorFlow is imported (in the benchmark's process and every process it starts):
- ``laptop-nobf16``: ``TF_ENABLE_ONEDNN_OPTS=0``, TensorFlow's non-oneDNN path, where bfloat16 is
  emulated (7.8x slower than float32 on the old quick preset), as on CPUs without it;
- ``laptop-avx2``: ``ONEDNN_MAX_CPU_ISA=AVX2``, oneDNN capped at AVX2, as on most Intel and AMD
  laptops: bfloat16 convolutions do not run at all.
"""

from __future__ import annotations

import os

PROFILES = {
    "native": {},
    "laptop-nobf16": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "laptop-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
}


def add_argument(parser) -> None:
    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="native",
        help="native (this CPU), laptop-nobf16 (TF_ENABLE_ONEDNN_OPTS=0) or laptop-avx2 "
        "(ONEDNN_MAX_CPU_ISA=AVX2); see benchmarks/profiles.py",
    )


def apply(name: str) -> dict:
    """Set the profile's variables in this process (before TensorFlow is imported); returns them."""
    if "tensorflow" in __import__("sys").modules:
        raise RuntimeError("apply the profile before TensorFlow is imported")
    for var in {v for p in PROFILES.values() for v in p}:
        os.environ.pop(var, None)
    os.environ.update(PROFILES[name])
    return dict(PROFILES[name])
