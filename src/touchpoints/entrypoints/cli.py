"""The ``touchpoints`` command line (DESIGN.md §3.1)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime

from touchpoints.entrypoints.config import Config, ConfigError, load_config
from touchpoints.entrypoints.logs import configure_logging


def _aware_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 datetime: {value!r}") from exc
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs an offset, e.g. 2026-09-01T07:00:00+00:00")
    return parsed


def _date(value: str) -> datetime:
    return _aware_datetime(value if "T" in value else f"{value}T00:00:00+00:00")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="touchpoints",
        description="Touch-points: one board of CRM follow-ups for Bitrix24 sales teams.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the web app (pages, API, Bitrix24 handlers)",
        description="Run the web app. Applies pending migrations at start under a lock.",
    )
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    serve.add_argument("--tls-cert", help="PEM certificate, to serve HTTPS without a proxy")
    serve.add_argument("--tls-key", help="PEM private key for --tls-cert")

    commands.add_parser(
        "migrate",
        help="apply pending database migrations and exit",
        description="Apply pending migrations to TOUCHPOINTS_DATABASE_URL (or the embedded Postgres).",
    )

    digest = commands.add_parser(
        "digest",
        help="send the daily IM digest",
        description="Send each user's daily digest once their portal's digest hour has come. "
        "Without --once it runs a pass every minute until stopped.",
    )
    digest.add_argument("--once", action="store_true", help="run one pass and exit (for cron)")
    digest.add_argument(
        "--now", type=_aware_datetime, help="pretend it is this ISO 8601 instant (backfills, tests)"
    )

    feedback = commands.add_parser(
        "feedback",
        help="print the feedback users sent",
        description="Print the feedback users sent from the app, newest last.",
    )
    feedback.add_argument("--since", type=_date, help="only feedback sent on or after this date")

    demo = commands.add_parser(
        "demo",
        help="run the app on a built-in simulated portal",
        description="Run the app with a simulated Bitrix24 portal and made-up demo data; "
        "prints the URL to open. No Bitrix24 account needed.",
    )
    demo.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    demo.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    demo.add_argument(
        "--now",
        type=_aware_datetime,
        help="start the demo's clock at this ISO 8601 instant; it runs on from there (tests)",
    )
    return parser


def run(args: argparse.Namespace, config: Config) -> int:
    command: str = args.command
    json_lines = command in ("serve", "digest") and sys.stderr.isatty() is False
    configure_logging(config.log_level, json_lines=json_lines)
    # Each command imports only what it runs: cron starts `digest --once` every few minutes.
    if command == "serve":
        config.require_serving()
        from touchpoints.entrypoints.serve import serve  # noqa: PLC0415

        return serve(
            config, host=args.host, port=args.port, tls_cert=args.tls_cert, tls_key=args.tls_key
        )
    if command == "migrate":
        from touchpoints.entrypoints.serve import migrate  # noqa: PLC0415

        return migrate(config)
    if command == "feedback":
        from touchpoints.entrypoints.serve import print_feedback  # noqa: PLC0415

        return print_feedback(config, since=args.since)
    if command == "digest":
        config.require_serving()
        from touchpoints.entrypoints.digest_job import run_digest_command  # noqa: PLC0415

        return run_digest_command(config, once=args.once, now=args.now)
    if command == "demo":
        from touchpoints.entrypoints.demo import run_demo  # noqa: PLC0415

        return run_demo(config, host=args.host, port=args.port, now=args.now)
    raise AssertionError(command)  # pragma: no cover - argparse restricts the choices


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(os.environ)
        return run(args, config)
    except ConfigError as exc:
        print(f"touchpoints: configuration error: {exc}", file=sys.stderr)
        return 78  # EX_CONFIG
