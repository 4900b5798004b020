"""Command line: ``wuye dev | serve | worker | migrate | tenant | operator | seed-demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from wuye import embedded
from wuye.db import DEFAULT_CLUSTER, take_after_commit
from wuye.errors import AppError
from wuye.identity import service as identity
from wuye.identity.models import Operator, OperatorAuditLog, User
from wuye.runtime import Runtime
from wuye.settings import Settings, get_settings
from wuye.tenancy import migrate
from wuye.tenancy import service as tenancy
from wuye.tenancy.models import Tenant, TenantModule
from wuye.tenancy.provisioning import NewTenant, create_tenant

DEMO_SLUG = "demo"
DEMO_PASSWORD = "wuye-demo-2026"
DEMO_ADMIN_PHONE = "+8613800000001"
DEMO_RESIDENT_PHONE = "+8613900000002"
DEMO_OPERATOR_EMAIL = "operator@wuye.local"


@dataclass
class Services:
    database_url: str
    redis_url: str
    embedded: embedded.EmbeddedServices | None

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def start_services(settings: Settings) -> Services:
    """Configured servers, or embedded ones for whatever is not configured."""
    if settings.database_url and settings.redis_url:
        return Services(settings.database_url, settings.redis_url, None)
    started = embedded.start(
        settings.data_dir, need_db=not settings.database_url, need_redis=not settings.redis_url
    )
    return Services(
        settings.database_url or started.database_url,
        settings.redis_url or started.redis_url,
        started,
    )


def cluster_urls(settings: Settings, database_url: str) -> dict[str, str]:
    return {DEFAULT_CLUSTER: database_url, **settings.database_clusters}


@contextlib.asynccontextmanager
async def opened_runtime(settings: Settings, services: Services) -> AsyncIterator[Runtime]:
    runtime = Runtime.create(
        settings, database_url=services.database_url, redis_url=services.redis_url
    )
    try:
        yield runtime
    finally:
        await runtime.close()


def _audit(session: Any, action: str, slug: str, detail: dict[str, Any]) -> None:
    session.add(
        OperatorAuditLog(
            actor_kind="system",
            actor_id=None,
            action=action,
            object_type="Tenant",
            object_id=slug,
            tenant_slug=slug,
            detail=detail,
            user_agent="wuye-cli",
        )
    )


# --- demo data -----------------------------------------------------------------------------


async def seed_demo(runtime: Runtime) -> list[str]:
    """The demo tenant, its admin and a resident, and an operator. Idempotent."""
    lines: list[str] = []
    async with runtime.db.shared_session() as s:
        if await s.scalar(select(Operator).where(Operator.email == DEMO_OPERATOR_EMAIL)) is None:
            s.add(
                Operator(
                    email=DEMO_OPERATOR_EMAIL,
                    name="平台运营",
                    password_hash=runtime.passwords.hash(DEMO_PASSWORD),
                )
            )
        exists = await s.scalar(select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
        if exists is None:
            await create_tenant(
                s,
                NewTenant(
                    slug=DEMO_SLUG,
                    name_zh="演示物业",
                    name_en="Demo Property",
                    app_name="演示社区",
                    admin_name="演示管理员",
                    admin_phone=DEMO_ADMIN_PHONE,
                    modules=[m.key for m in runtime.modules],
                ),
                modules=runtime.modules,
                changed_by="seed-demo",
                invite_ttl_s=runtime.settings.invite_ttl_s,
            )
            _audit(s, "seedDemo", DEMO_SLUG, {})
        else:
            await _enable_new_modules(s, runtime)
        await s.commit()
    runtime.directory.clear_local()
    info = await runtime.directory.by_slug(DEMO_SLUG)
    assert info is not None
    async with runtime.db.tenant_session(info.schema) as s:
        admin = await s.scalar(select(User).where(User.phone == DEMO_ADMIN_PHONE))
        if admin is not None and admin.password_hash is None:
            admin.password_hash = runtime.passwords.hash(DEMO_PASSWORD)
        if await s.scalar(select(User).where(User.phone == DEMO_RESIDENT_PHONE)) is None:
            await identity.create_user(
                s,
                kind="resident",
                name="演示住户",
                phone=DEMO_RESIDENT_PHONE,
                role_keys=["resident"],
                password_hash=runtime.passwords.hash(DEMO_PASSWORD),
            )
        await s.flush()
        for module in runtime.modules:
            if module.demo is not None and runtime.module_enabled(info, module.key):
                await module.demo(session=s, tenant=info, runtime=runtime)
        await s.commit()
        hooks = take_after_commit(s)
    for hook in hooks:  # e.g. the demo notices' fan-out jobs
        await hook()
    lines.append(f"  tenant admin : {DEMO_ADMIN_PHONE} / {DEMO_PASSWORD}")
    lines.append(f"  resident     : {DEMO_RESIDENT_PHONE} / {DEMO_PASSWORD}")
    lines.append(f"  operator     : {DEMO_OPERATOR_EMAIL} / {DEMO_PASSWORD}")
    return lines


async def _enable_new_modules(session: Any, runtime: Runtime) -> None:
    """A demo tenant made by an earlier version gets the modules added since."""
    enabled = set(
        await session.scalars(
            select(TenantModule.module_key)
            .join(Tenant, Tenant.id == TenantModule.tenant_id)
            .where(Tenant.slug == DEMO_SLUG, TenantModule.enabled)
        )
    )
    for module in runtime.modules:
        if not module.always_on and module.key not in enabled:
            await tenancy.set_module(
                session,
                slug=DEMO_SLUG,
                key=module.key,
                enabled=True,
                config=None,
                changed_by="seed-demo",
                modules=runtime.modules,
            )


# --- commands ------------------------------------------------------------------------------


def _migrate(settings: Settings, services: Services, parallelism: int = 4) -> int:
    report = migrate.migrate_all(
        cluster_urls(settings, services.database_url), parallelism=parallelism
    )
    print(
        f"migrated shared; tenants: {report.tenants}, at head: {report.at_head}, "
        f"migrated: {len(report.migrated)}, failed: {len(report.failed)} "
        f"({report.seconds:.2f} s)"
    )
    for slug, error in report.failed.items():
        print(f"  FAILED {slug}: {error}", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from wuye.app import create_app
    from wuye.observability import configure_logging
    from wuye.workers import run_worker

    configure_logging("INFO", json_logs=False)
    services = start_services(settings)
    try:
        if _migrate(settings, services) != 0:
            return 1

        async def run() -> None:
            async with opened_runtime(settings, services) as runtime:
                logins = await seed_demo(runtime)
                port = settings.port
                print("\nWuye is running (Ctrl-C stops everything):")
                print(
                    f"  tenant API   : http://{DEMO_SLUG}.{settings.platform_domain}:{port}/graphql"
                )
                print(f"  admin API    : http://localhost:{port}/admin/graphql")
                print(f"  health       : http://localhost:{port}/healthz")
                print("Demo logins:")
                print("\n".join(logins), flush=True)
                server = uvicorn.Server(
                    uvicorn.Config(
                        create_app(runtime),
                        host=settings.host,
                        port=port,
                        log_config=None,
                        access_log=False,
                    )
                )
                worker = asyncio.create_task(run_worker(settings, runtime=runtime))
                try:
                    await server.serve()
                finally:
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker

        # uvicorn re-raises the signal that stopped it; turn SIGTERM into the same clean
        # exit as Ctrl-C so the embedded servers are stopped too.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())
    finally:
        services.stop()
    return 0


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from wuye.observability import configure_logging

    if not settings.database_url or not settings.redis_url:
        print(
            "wuye serve needs WUYE_DATABASE_URL and WUYE_REDIS_URL (use `wuye dev` for "
            "embedded servers)",
            file=sys.stderr,
        )
        return 2
    configure_logging("INFO")
    uvicorn.run(
        "wuye.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=settings.trust_forwarded_for,
    )
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from wuye.observability import configure_logging
    from wuye.workers import main_sync

    configure_logging("INFO")
    services = start_services(settings)
    try:
        main_sync(
            settings.model_copy(
                update={"database_url": services.database_url, "redis_url": services.redis_url}
            )
        )
    finally:
        services.stop()
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    services = start_services(settings)
    try:
        return _migrate(settings, services, args.parallelism)
    finally:
        services.stop()


async def _tenant_command(args: argparse.Namespace, settings: Settings, runtime: Runtime) -> int:
    async with runtime.db.shared_session() as s:
        if args.tenant_cmd == "create":
            done = await create_tenant(
                s,
                NewTenant(
                    slug=args.slug,
                    name_zh=args.name_zh,
                    name_en=args.name_en or "",
                    domains=args.domain or [],
                    modules=args.module or [],
                    admin_name=args.admin_name or "",
                    admin_phone=args.admin_phone,
                    admin_email=args.admin_email,
                ),
                modules=runtime.modules,
                changed_by="cli",
                invite_ttl_s=settings.invite_ttl_s,
                region=settings.default_phone_region,
            )
            _audit(s, "createTenant", done.slug, {"modules": args.module or []})
            await s.commit()
            print(f"created tenant {done.slug} (schema {done.schema})")
            if done.admin_invite:
                print(f"admin invite token (acceptInvite): {done.admin_invite}")
        elif args.tenant_cmd == "list":
            for t in await s.scalars(select(Tenant).order_by(Tenant.id)):
                print(f"{t.slug:24} {t.status:10} {t.schema_revision or '-':8} {t.name_zh}")
        elif args.tenant_cmd in ("suspend", "reactivate"):
            status = "suspended" if args.tenant_cmd == "suspend" else "active"
            await tenancy.set_status(s, slug=args.slug, status=status)
            _audit(s, f"{args.tenant_cmd}Tenant", args.slug, {})
            await s.commit()
            print(f"{args.slug}: {status}")
        elif args.tenant_cmd == "module":
            config = json.loads(args.config) if args.config else None
            await tenancy.set_module(
                s,
                slug=args.slug,
                key=args.key,
                enabled=not args.disable,
                config=config,
                changed_by="cli",
                modules=runtime.modules,
            )
            _audit(s, "setTenantModule", args.slug, {"key": args.key, "enabled": not args.disable})
            await s.commit()
            print(f"{args.slug}: module {args.key} {'disabled' if args.disable else 'enabled'}")
    await runtime.directory.invalidate()
    return 0


async def _operator_create(args: argparse.Namespace, runtime: Runtime) -> int:
    password = args.password or os.environ.get("WUYE_OPERATOR_PASSWORD") or getpass.getpass()
    async with runtime.db.shared_session() as s:
        s.add(
            Operator(
                email=args.email.strip().lower(),
                name=args.name,
                password_hash=runtime.passwords.hash(password),
            )
        )
        await s.commit()
    print(f"operator {args.email} created")
    return 0


def _with_runtime(settings: Settings, work: Any) -> int:
    services = start_services(settings)

    async def run() -> int:
        async with opened_runtime(settings, services) as runtime:
            return int(await work(runtime))

    try:
        return asyncio.run(run())
    except AppError as err:
        print(f"error [{err.code}]: {err.message('en')}", file=sys.stderr)
        return 1
    finally:
        services.stop()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wuye", description="Wuye property-management platform")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("dev", help="run API + worker on embedded (or configured) servers, demo data")
    serve = sub.add_parser("serve", help="run the API (configured servers)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    sub.add_parser("worker", help="run the arq worker")
    sub.add_parser("migrate", help="migrate shared, then every tenant schema").add_argument(
        "--parallelism", type=int, default=4, help="worker processes when many tenants are behind"
    )
    sub.add_parser("seed-demo", help="create the demo tenant, users and operator")

    tenant = sub.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="tenant_cmd", required=True
    )
    create = tenant.add_parser("create")
    create.add_argument("--slug", required=True)
    create.add_argument("--name-zh", required=True)
    create.add_argument("--name-en")
    create.add_argument("--domain", action="append")
    create.add_argument("--module", action="append")
    create.add_argument("--admin-name")
    create.add_argument("--admin-phone")
    create.add_argument("--admin-email")
    tenant.add_parser("list")
    for name in ("suspend", "reactivate"):
        tenant.add_parser(name).add_argument("slug")
    module = tenant.add_parser("module", help="enable (default) or disable a module")
    module.add_argument("slug")
    module.add_argument("key")
    module.add_argument("--disable", action="store_true")
    module.add_argument("--config", help="JSON object")

    operator = sub.add_parser("operator", help="platform operators").add_subparsers(
        dest="operator_cmd", required=True
    )
    op_create = operator.add_parser("create")
    op_create.add_argument("--email", required=True)
    op_create.add_argument("--name", required=True)
    op_create.add_argument("--password", help="or WUYE_OPERATOR_PASSWORD, or a prompt")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    if args.cmd == "dev":
        return cmd_dev(args, settings)
    if args.cmd == "serve":
        return cmd_serve(args, settings)
    if args.cmd == "worker":
        return cmd_worker(args, settings)
    if args.cmd == "migrate":
        return cmd_migrate(args, settings)
    if args.cmd == "seed-demo":
        return _with_runtime(settings, lambda rt: _print_lines(seed_demo(rt)))
    if args.cmd == "tenant":
        return _with_runtime(settings, lambda rt: _tenant_command(args, settings, rt))
    if args.cmd == "operator":
        return _with_runtime(settings, lambda rt: _operator_create(args, rt))
    return 2


async def _print_lines(lines: Any) -> int:
    print("\n".join(await lines))
    return 0
