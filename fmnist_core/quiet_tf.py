"""Quiet TensorFlow: no absl/oneDNN start-up lines before a command's own output.

TensorFlow 2.21 logs through absl before anything can configure it ("WARNING: All log messages
before absl::InitializeLog() ...", "oneDNN custom operations are on ...", the CPU-feature note),
from C++, straight to file descriptor 2, while ``import tensorflow`` runs; TF_CPP_MIN_LOG_LEVEL
no longer reaches those lines. So ``install()`` (called by the CLI and the worker entry before
anything imports TensorFlow) sets TF_CPP_MIN_LOG_LEVEL=2 unless the user chose a level, and
wraps the first ``import tensorflow`` so that its descriptor-2 output is captured and written
back without the log lines below that level. Anything else printed meanwhile (a real error) is
kept. With TF_CPP_MIN_LOG_LEVEL=0 nothing is filtered.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

DEFAULT_LEVEL = "2"  # TensorFlow's scale: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR
_ABSL_LINE = re.compile(r"^([IWE])\d{4} [\d:.]+ +\d+ \S+:\d+\] ")
_PREINIT = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_SEVERITY = {"I": 0, "W": 1, "E": 2}


def _level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def keep(text: str, level: int) -> str:
    """``text`` without the absl lines below ``level`` (and their continuation lines)."""
    out, dropping = [], False
    for line in text.splitlines(keepends=True):
        m = _ABSL_LINE.match(line)
        if m:
            dropping = _SEVERITY[m.group(1)] < level
        elif line.startswith(_PREINIT):
            dropping = level >= 1
        elif not line.startswith((" ", "To enable the following instructions")):
            dropping = False  # continuation lines belong to the log line above them
        if not dropping:
            out.append(line)
    return "".join(out)


@contextlib.contextmanager
def filtered_stderr(level: int):
    """Capture descriptor 2 (C++ writes there, not to sys.stderr) and write back what ``keep`` keeps."""
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            rest = keep(tmp.read().decode(errors="replace"), level)
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once, through the normal finders, and runs its import under ``filtered_stderr``."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the real finders do the finding
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module, level = spec.loader.exec_module, _level()

        def quiet_exec(module):
            with filtered_stderr(level):
                exec_module(module)

        spec.loader.exec_module = quiet_exec
        return spec


def install() -> None:
    """Set the default log level and quiet the first ``import tensorflow`` (no-op once it is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LEVEL)
    if "tensorflow" in sys.modules or _level() == 0 or any(isinstance(f, _QuietImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietImport())
