"""``python -m fmnist_core``: the parser over every command group, and the one error policy.

Bad arguments get a one-line error and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

from fmnist_core.cli import app, export, jobs, modeling, studies
from fmnist_core.cli.common import EXIT_FAIL, EXIT_USAGE, Parser


def build_parser() -> Parser:
    p = Parser(prog="python -m fmnist_core", description="Fashion-MNIST Lab: train, test and study models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in (modeling, jobs, studies, export, app):
        group.register(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from fmnist_core.data.fashion_mnist import DatasetNotFoundError
    from fmnist_core.modeling.precision import PrecisionUnsupportedError
    from fmnist_core.modeling.saving import DamagedModelError, ModelNotFoundError
    from fmnist_core.modeling.training import TrainingDivergedError
    from fmnist_core.runs.jobs import TrainingFailedError
    from fmnist_core.runs.store import StoreError

    try:
        return int(args.func(args) or 0)
    except (
        DatasetNotFoundError,
        ModelNotFoundError,
        DamagedModelError,
        StoreError,
        TrainingDivergedError,
        PrecisionUnsupportedError,
        TrainingFailedError,
    ) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_FAIL
    except (ValueError, PermissionError) as exc:
        if isinstance(exc, PermissionError) and exc.errno is not None:
            return _os_error(exc)
        sys.stderr.write(f"error: {exc}\n")  # bad input, or someone else's run: the message says which
        return EXIT_USAGE
    except OSError as exc:
        return _os_error(exc)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


def _os_error(exc: OSError) -> int:
    """A full disk or a read-only folder: say which, in one line."""
    where = f": {exc.filename}" if exc.filename else ""
    sys.stderr.write(
        f"error: {exc.strerror or exc}{where}; free some space or make the folder writable "
        "(or set FMNIST_HOME), then try again\n"
    )
    return EXIT_FAIL


if __name__ == "__main__":
    raise SystemExit(main())
