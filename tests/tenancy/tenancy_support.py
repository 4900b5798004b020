"""Helpers for the tenancy tests: small test modules, operators, admin API calls, SQL probes.

Not a conftest (the root one is imported as ``conftest``); test files import it by name.
"""

from __future__ import annotations

import secrets
from typing import Any

import strawberry
from conftest import Api, Services, build_runtime
from sqlalchemy import text

from wuye.graphql.access import mutation, query
from wuye.identity.models import Operator
from wuye.identity.permissions import Permission
from wuye.modules.base import Module
from wuye.runtime import Runtime
from wuye.settings import Settings

# --- test modules --------------------------------------------------------------------------

GIZMO_USE = Permission("gizmo.use", "使用小工具", "Use gizmos")

# (module key, tenant slug, users visible in the session's routed schema) per on_enable call
ENABLED_CALLS: list[tuple[str, str, int]] = []


async def _count_users(session: Any) -> int:
    return int(await session.scalar(text("SELECT count(*) FROM users")))


async def _on_enable_base(*, session: Any, tenant: Any) -> None:
    ENABLED_CALLS.append(("gizmobase", tenant.slug, await _count_users(session)))


async def _on_enable_gizmo(*, session: Any, tenant: Any) -> None:
    ENABLED_CALLS.append(("gizmo", tenant.slug, await _count_users(session)))


async def _on_enable_boom(*, session: Any, tenant: Any) -> None:
    ENABLED_CALLS.append(("boom", tenant.slug, await _count_users(session)))
    raise RuntimeError("boom: module set-up failed")


@strawberry.type
class GizmoQuery:
    @query(signed_in=True, description="The greeting configured for this tenant")
    async def gizmo_greeting(self, info: strawberry.Info) -> str:
        config = info.context.tenant.modules.get("gizmo", {})
        return str(config.get("greeting", "hello"))

    @query(GIZMO_USE)
    async def gizmo_user_count(self, info: strawberry.Info) -> int:
        return await _count_users(info.context.session)


@strawberry.type
class GizmoMutation:
    @mutation(GIZMO_USE)
    async def gizmo_poke(self, info: strawberry.Info, label: str) -> str:
        return f"poked {label}"


GIZMO_BASE = Module(
    key="gizmobase", title_zh="小工具底座", title_en="Gizmo base", on_enable=_on_enable_base
)
GIZMO = Module(
    key="gizmo",
    title_zh="小工具",
    title_en="Gizmo",
    depends_on=("gizmobase",),
    permissions=(GIZMO_USE,),
    role_grants={"manager": (GIZMO_USE.key,)},
    query=GizmoQuery,
    mutation=GizmoMutation,
    on_enable=_on_enable_gizmo,
)
BOOM = Module(key="boom", title_zh="坏模块", title_en="Broken module", on_enable=_on_enable_boom)
TEST_MODULES: tuple[Module, ...] = (GIZMO_BASE, GIZMO, BOOM)


def isolated_runtime(settings: Settings, services: Services) -> Runtime:
    """A runtime with the test modules and its own Redis namespace (throttles, cache bus)."""
    prefix = f"{settings.redis_prefix}:{secrets.token_hex(3)}"
    own = settings.model_copy(update={"redis_prefix": prefix})
    return build_runtime(own, services, modules=TEST_MODULES)


# --- operators and the admin API -----------------------------------------------------------

OPERATOR_PASSWORD = "operator-pass-123"

OPERATOR_LOGIN = """mutation($i: LoginInput!) { operatorLogin(input: $i) {
  accessToken refreshToken operator { id email name } } }"""

TENANT_FIELDS = """id slug schemaName nameZh nameEn status cluster timeZone locale
  branding { appName logoUrl primaryColor accentColor }
  domains { hostname isPrimary }
  modules { key enabled config changedBy }
  schemaRevision migrationStatus"""

CREATE_TENANT = f"""mutation($i: CreateTenantInput!) {{ createTenant(input: $i) {{
  tenant {{ {TENANT_FIELDS} }} adminInviteToken }} }}"""

SET_MODULE = f"""mutation($i: SetTenantModuleInput!) {{ setTenantModule(input: $i) {{
  {TENANT_FIELDS} }} }}"""

PUBLIC_TENANT = """{ tenant { slug nameZh nameEn
  branding { appName logoUrl primaryColor accentColor } modules { key } } }"""

ACCEPT_INVITE = """mutation($i: AcceptInviteInput!) { acceptInvite(input: $i) {
  accessToken refreshToken user { id name kind roles { key } } } }"""


async def create_operator(runtime: Runtime, *, active: bool = True) -> Operator:
    email = f"op-{secrets.token_hex(4)}@ops.wuye.test"
    async with runtime.db.shared_session() as s:
        op = Operator(
            email=email,
            name="运营同学",
            is_active=active,
            password_hash=runtime.passwords.hash(OPERATOR_PASSWORD),
        )
        s.add(op)
        await s.commit()
    return op


async def operator_login(admin: Api, runtime: Runtime) -> tuple[Operator, str]:
    op = await create_operator(runtime)
    body = await admin(
        OPERATOR_LOGIN, {"i": {"identifier": op.email, "password": OPERATOR_PASSWORD}}
    )
    assert "errors" not in body, body
    return op, body["data"]["operatorLogin"]["accessToken"]


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return str(body["errors"][0]["extensions"]["code"])


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return dict(body["data"])


def unique_host() -> str:
    return f"wy{secrets.token_hex(4)}.example.cn"


async def set_module(
    admin: Api, token: str, slug: str, key: str, enabled: bool, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    variables = {"i": {"slug": slug, "key": key, "enabled": enabled, "config": config}}
    return await admin(SET_MODULE, variables, token=token)


# --- database probes -----------------------------------------------------------------------


async def schema_exists(runtime: Runtime, schema: str) -> bool:
    async with runtime.db.shared_session() as s:
        return bool(
            await s.scalar(
                text("SELECT count(*) FROM pg_namespace WHERE nspname = :n"), {"n": schema}
            )
        )


async def tenant_row(runtime: Runtime, slug: str) -> Any:
    async with runtime.db.shared_session() as s:
        return (
            (await s.execute(text("SELECT * FROM shared.tenants WHERE slug = :s"), {"s": slug}))
            .mappings()
            .first()
        )
