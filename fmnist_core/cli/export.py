"""``export``: take a saved model away as its ``.keras`` file, a checked TFLite file, or a
standalone training script (see ``modeling/export.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

from fmnist_core.cli.common import EXIT_OK, print_json


def cmd_export(args) -> int:
    from fmnist_core.modeling import export
    from fmnist_core.modeling.saving import atomic_write_bytes, load_metadata, refuse_shipped

    load_metadata(args.model_name)  # a missing or damaged model fails before any conversion work
    out = Path(args.output) if args.output else Path(export.file_name(args.model_name, args.format))
    if out.is_dir():
        out = out / export.file_name(args.model_name, args.format)
    refuse_shipped(out, "overwritten")  # -o can name any path: a shipped model's file is never one
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} exists; pass --overwrite or choose another -o path")
    if args.format == "tflite":
        print("converting with tf.lite.TFLiteConverter and checking on 1,000 test images…", file=sys.stderr)
    data, _, note = export.export_bytes(args.model_name, args.format)
    atomic_write_bytes(out, data)
    if args.format == "script":
        out.chmod(0o755)
    if args.json:
        print_json(
            {"model": args.model_name, "format": args.format, "path": str(out), "bytes": len(data), "note": note}
        )
    else:
        print(f"wrote {out} ({len(data):,} bytes)\n{note}")
    return EXIT_OK


def register(sub) -> None:
    from fmnist_core.modeling.export import FORMATS

    e = sub.add_parser(
        "export", help="write a saved model as .keras, TFLite (checked against Keras) or a standalone training script"
    )
    e.add_argument("-mn", "--model-name", required=True, help="saved model name (see `models`)")
    e.add_argument("--format", required=True, choices=FORMATS)
    e.add_argument(
        "-o",
        "--output",
        default=None,
        help="file or folder to write (default: NAME.keras, NAME.tflite or NAME_train.py here)",
    )
    e.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_export)
