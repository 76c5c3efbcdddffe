"""``python -m fmnist_core``: see cli/main.py."""

from fmnist_core.platform_check import exit_if_unsupported, exit_missing_requirements

# One sentence on a Python or platform that cannot install the lab, before an import fails on it.
exit_if_unsupported()
from fmnist_core import quiet_tf  # noqa: E402  (before anything imports TensorFlow)

quiet_tf.install()
try:
    from fmnist_core.cli import main
except ModuleNotFoundError as exc:
    if (exc.name or "").partition(".")[0] == "fmnist_core":
        raise  # our own code is broken: show it
    exit_missing_requirements(exc)

raise SystemExit(main())
