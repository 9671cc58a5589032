"""The ``hotline`` command line: serve, migrate, seed-demo, create-user, purge."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from bench import suite as bench_suite
from cases import staff
from cases.db import Database, DatabaseError
from cases.migrate import upgrade
from cases.models import Role
from cases.retention import purge
from hotline import logs
from hotline.app import StartupError, create_app
from hotline.auth import hash_password
from hotline.demo import seed_demo
from hotline.settings import Settings, SettingsError, load_settings
from routing import cli as routing_cli
from routing.errors import RoutingError


def _print_passwords(passwords: dict[str, str] | None) -> None:
    if passwords is None:
        print("Demo data already present; nothing seeded (passwords were printed on first run).")
        return
    print("Seeded the demo district. Staff passwords (shown only this once):")
    width = max(len(u) for u in passwords)
    for username, password in passwords.items():
        print(f"  {username.ljust(width)}  {password}")


async def _migrate(settings: Settings) -> None:
    if settings.database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade(settings.database_url)


async def _seed(settings: Settings) -> dict[str, str] | None:
    db = Database(settings.database_url)
    try:
        return await seed_demo(db)
    finally:
        await db.close()


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    asyncio.run(_migrate(settings))
    print(f"Database is at the latest schema: {settings.database_url}")
    return 0


def cmd_seed_demo(settings: Settings, _args: argparse.Namespace) -> int:
    _print_passwords(asyncio.run(_seed(settings)))
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
    try:
        password_hash = hash_password(password)
        skills = _parse_skills(args.skill)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def create() -> None:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                await staff.create_user(
                    session=session,
                    username=args.username,
                    display_name=args.display_name or args.username,
                    password_hash=password_hash,
                    roles=[Role(r) for r in args.role],
                    skills=skills,
                    tier=args.tier,
                    languages=args.language or ["zh"],
                    shifts=args.shift or (),
                )
        finally:
            await db.close()

    try:
        asyncio.run(create())
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Created {args.username} ({', '.join(args.role)}).")
    return 0


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    """Delete what is past its retention (recording files too); print what, as JSON."""

    async def run() -> dict[str, Any]:
        db = Database(settings.database_url)
        try:
            report = await purge(
                db,
                retention=settings.retention,
                recording_dir=settings.data_dir / "recordings",
                dry_run=args.dry_run,
            )
        finally:
            await db.close()
        return report.to_json()

    print(json.dumps(asyncio.run(run()), indent=2, sort_keys=True))
    return 0


def _parse_skills(items: Sequence[str] | None) -> dict[str, int]:
    skills: dict[str, int] = {}
    for item in items or []:
        name, _, level = item.partition(":")
        if not name or not level.isdigit() or not 1 <= int(level) <= 5:
            raise ValueError(f"--skill takes NAME:PROFICIENCY with proficiency 1–5 (got {item!r})")
        skills[name] = int(level)
    return skills


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    host = args.host or settings.host
    port = args.port or settings.port
    if args.migrate:
        asyncio.run(_migrate(settings))
    if args.seed_demo:
        _print_passwords(asyncio.run(_seed(settings)))
    base = settings.public_url or f"http://{host}:{port}"
    banner = (
        f"Hotline serving on {base}  ({settings.backplane} backplane, "
        f"{settings.database_url.split(':', 1)[0]} database)\n"
        f"  caller page:     {base}/\n"
        f"  agent desk:      {base}/agent\n"
        f"  supervisor wall: {base}/supervisor\n"
        f"  health:          {base}/readyz"
    )
    try:
        # run_app calls ``print`` once the server listens: only then say it serves.
        web.run_app(
            create_app(settings),
            host=host,
            port=port,
            print=lambda _message: print(banner, flush=True),
            access_log=None,
        )
    except StartupError as exc:
        print(f"hotline: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_json(
    compute: Callable[[argparse.Namespace], dict[str, Any]], args: argparse.Namespace
) -> int:
    try:
        result = compute(args)
    except (RoutingError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def cmd_bench(_settings: Settings | None, args: argparse.Namespace) -> int:
    try:
        result = args.bench_run(args)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def _add_queueing_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    erlang = sub.add_parser("erlang", help="Erlang C: waits and service level, or agents needed")
    routing_cli.add_erlang_arguments(erlang)
    erlang.set_defaults(func=lambda _s, a: _run_json(routing_cli.run_erlang, a), settings=False)

    sim = sub.add_parser("simulate", help="discrete-event simulation over the real routing engine")
    routing_cli.add_simulate_arguments(sim)
    sim.set_defaults(func=lambda _s, a: _run_json(routing_cli.run_simulate, a), settings=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline",
        description="12348 legal-service hotline and remote mediation platform.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host", help="address to listen on (default HOTLINE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default HOTLINE_PORT or 8080)")
    serve.add_argument("--migrate", action="store_true", help="migrate the database first")
    serve.add_argument("--seed-demo", action="store_true", help="seed the demo district if empty")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=cmd_migrate)

    seed = sub.add_parser("seed-demo", help="seed the demo district (once)")
    seed.set_defaults(func=cmd_seed_demo)

    create = sub.add_parser("create-user", help="add a member of staff")
    create.add_argument("username")
    create.add_argument(
        "--role", action="append", required=True, choices=[r.value for r in Role], help="repeatable"
    )
    create.add_argument("--display-name")
    create.add_argument("--skill", action="append", metavar="NAME:1-5", help="repeatable")
    create.add_argument("--tier", type=int, default=1)
    create.add_argument("--language", action="append", help="repeatable (default zh)")
    create.add_argument(
        "--shift",
        action="append",
        metavar="'DAYS HH:MM-HH:MM'",
        help="duty rota, repeatable: 'mon-fri 08:30-17:30', 'daily 18:00-08:00' (night duty)",
    )
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(func=cmd_create_user)

    purge_ = sub.add_parser(
        "purge", help="delete records and recording files past their retention (JSON report)"
    )
    purge_.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    purge_.set_defaults(func=cmd_purge)
    _add_queueing_commands(sub)
    bench_suite.add_arguments(sub)
    sub.choices["bench"].set_defaults(func=cmd_bench, settings=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "settings", True):
        result_: int = args.func(None, args)
        return result_
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
