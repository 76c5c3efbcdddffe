"""The command line, ``python -m fmnist_core COMMAND``: one module per command group
(``modeling``, ``jobs``, ``studies``), their shared helpers in ``common``, the parser in ``main``.
May import every other part of the core; nothing in the core imports it.
"""

from fmnist_core.cli.main import build_parser, main  # noqa: F401
