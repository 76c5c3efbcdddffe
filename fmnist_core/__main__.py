"""``python -m fmnist_core``: see cli/main.py."""
from fmnist_core.cli import main

raise SystemExit(main())
