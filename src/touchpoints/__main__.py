"""``python -m touchpoints`` runs the command-line interface."""

from __future__ import annotations

from touchpoints.entrypoints.cli import main

raise SystemExit(main())
