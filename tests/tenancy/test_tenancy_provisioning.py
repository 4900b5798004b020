"""Provisioning: one transaction creates the registry rows, schema, tables, stamp, roles and
the first admin; any failure leaves nothing behind."""

from __future__ import annotations

import secrets

import pytest
from conftest import login, new_phone, unique_slug
from sqlalchemy import select, text
from tenancy_support import (
    BOOM,
    ENABLED_CALLS,
    GIZMO_USE,
    TEST_MODULES,
    schema_exists,
    tenant_row,
    unique_host,
)

from wuye.db import TenantBase
from wuye.errors import AppError
from wuye.identity import service as identity
from wuye.identity.models import Invite, Role, User
from wuye.identity.permissions import DEFAULT_ROLES
from wuye.identity.tokens import hash_token
from wuye.models import load_all
from wuye.tenancy import migrate
from wuye.tenancy.provisioning import NewTenant, create_tenant


def new_spec(slug: str | None = None, **kw) -> NewTenant:
    kw.setdefault("admin_phone", new_phone())
    return NewTenant(
        slug=unique_slug("p") if slug is None else slug,
        name_zh="幸福物业",
        name_en="Happy PM",
        admin_name="王经理",
        **kw,
    )


async def provision(runtime, spec: NewTenant, modules=TEST_MODULES):
    async with runtime.db.shared_session() as s:
        done = await create_tenant(s, spec, modules=modules, changed_by="tests", invite_ttl_s=3600)
        await s.commit()
    return done


async def test_create_tenant_builds_everything(runtime, api):
    load_all()
    host = unique_host()
    spec = new_spec(
        domains=(host, f"www.{host}"),
        modules=("gizmo",),
        module_config={"gizmo": {"greeting": "你好"}},
    )
    ENABLED_CALLS.clear()
    # when a tenant is provisioned
    done = await provision(runtime, spec)
    # then the registry row names its schema, at the tenant head revision
    row = await tenant_row(runtime, spec.slug)
    assert row["schema_name"] == done.schema == "t_" + spec.slug.replace("-", "_")
    assert row["status"] == "active" and row["cluster"] == "default"
    assert row["schema_revision"] == migrate.head("tenant") and row["migration_status"] == "ok"
    assert row["app_name"] == "幸福物业"  # branding defaults to the company name
    async with runtime.db.shared_session() as s:
        domains = (
            await s.execute(
                text(
                    "SELECT hostname, is_primary FROM shared.domains WHERE tenant_id = :t "
                    "ORDER BY hostname"
                ),
                {"t": done.tenant_id},
            )
        ).all()
        modules = (
            await s.execute(
                text(
                    "SELECT module_key, enabled, config, changed_by FROM shared.tenant_modules "
                    "WHERE tenant_id = :t ORDER BY module_key"
                ),
                {"t": done.tenant_id},
            )
        ).all()
    assert dict(domains) == {host: True, f"www.{host}": False}  # the first one is primary
    # and the module asked for is on, with its config, plus what it depends on
    assert modules == [
        ("gizmo", True, {"greeting": "你好"}, "tests"),
        ("gizmobase", True, {}, "tests"),
    ]
    # and the schema has every tenant table plus its own Alembic version table, at head
    async with runtime.db.tenant_session(done.schema) as s:
        tables = set(
            await s.scalars(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": done.schema},
            )
        )
        version = await s.scalar(text(f"SELECT version_num FROM {done.schema}.alembic_version"))
        roles = {r.key: r for r in await s.scalars(select(Role))}
        users = list(await s.scalars(select(User)))
        admin_roles = list(
            await s.scalars(
                text(
                    "SELECT r.key FROM roles r JOIN user_roles ur ON ur.role_id = r.id "
                    "WHERE ur.user_id = :u"
                ),
                {"u": done.admin_user_id},
            )
        )
        invite = await s.scalar(select(Invite).where(Invite.user_id == done.admin_user_id))
    assert tables == set(TenantBase.metadata.tables) | {"alembic_version"}
    assert version == migrate.head("tenant")
    # and the default roles are seeded, with the modules' grants
    assert set(roles) == {r.key for r in DEFAULT_ROLES}
    assert all(r.is_system for r in roles.values())
    assert GIZMO_USE.key in roles["manager"].permissions
    assert roles["tenant_admin"].permissions == ["*"]
    # and the first admin exists, has no password yet, and holds an unused invitation
    assert [(u.id, u.kind, u.name, u.phone, u.password_hash, u.all_communities) for u in users] == [
        (done.admin_user_id, "staff", "王经理", spec.admin_phone, None, True)
    ]
    assert admin_roles == ["tenant_admin"]
    assert invite.used_at is None and invite.token_hash == hash_token(done.admin_invite)
    # and each module's on_enable ran inside the new schema, after the admin was created
    assert sorted(ENABLED_CALLS) == [("gizmo", spec.slug, 1), ("gizmobase", spec.slug, 1)]
    # and the invitation lets the admin in
    async with runtime.db.tenant_session(done.schema) as s:
        await identity.accept_invite(
            s, raw=done.admin_invite, password="first-pass-1", passwords=runtime.passwords
        )
        await s.commit()
    me = await login(api, spec.slug, spec.admin_phone, "first-pass-1")
    assert me["user"]["roles"] == [{"key": "tenant_admin"}]


async def test_tenant_without_admin_or_modules(runtime):
    done = await provision(runtime, new_spec(admin_phone=None), modules=())
    assert done.admin_user_id is None and done.admin_invite is None
    async with runtime.db.tenant_session(done.schema) as s:
        assert await s.scalar(text("SELECT count(*) FROM users")) == 0
        assert await s.scalar(text("SELECT count(*) FROM roles")) == len(DEFAULT_ROLES)


async def test_failure_midway_leaves_nothing_behind(runtime):
    # given a module whose set-up fails after the schema, tables and admin exist
    host = unique_host()
    spec = new_spec(domains=(host,), modules=("boom", "gizmo"))
    ENABLED_CALLS.clear()
    # when provisioning runs into it
    with pytest.raises(RuntimeError, match="boom"):
        await provision(runtime, spec, modules=TEST_MODULES)
    assert ("boom", spec.slug, 1) in ENABLED_CALLS  # it did get that far
    # then there is no registry row, no domain, no module switch and no schema
    assert await tenant_row(runtime, spec.slug) is None
    assert not await schema_exists(runtime, "t_" + spec.slug.replace("-", "_"))
    async with runtime.db.shared_session() as s:
        assert (
            await s.scalar(
                text("SELECT count(*) FROM shared.domains WHERE hostname = :h"), {"h": host}
            )
            == 0
        )
    assert await runtime.directory.by_slug(spec.slug) is None
    # and the slug is free to use again
    done = await provision(
        runtime, new_spec(spec.slug), modules=[m for m in TEST_MODULES if m is not BOOM]
    )
    assert done.slug == spec.slug


async def expect_app_error(runtime, spec: NewTenant, code: str, modules=TEST_MODULES) -> AppError:
    with pytest.raises(AppError) as failure:
        await provision(runtime, spec, modules=modules)
    assert failure.value.code == code
    return failure.value


async def test_duplicate_slug_or_domain_is_a_conflict(runtime):
    host = unique_host()
    first = await provision(runtime, new_spec(domains=(host,)))
    # when the same slug is used again
    await expect_app_error(runtime, new_spec(first.slug), "CONFLICT")
    # or someone else's domain
    other = new_spec(domains=(host.upper(),))
    await expect_app_error(runtime, other, "CONFLICT")
    # then the first tenant is untouched and nothing of the others exists
    assert (await tenant_row(runtime, first.slug))["id"] == first.tenant_id
    assert await tenant_row(runtime, other.slug) is None
    assert not await schema_exists(runtime, "t_" + other.slug.replace("-", "_"))
    async with runtime.db.tenant_session(first.schema) as s:
        assert await s.scalar(text("SELECT count(*) FROM users")) == 1


@pytest.mark.parametrize(
    "slug",
    [
        "admin",
        "www",
        "api",
        "shared",
        "public",
        "Acme",
        "ab",
        "-abc",
        "abc-",
        "a_bc",
        "1abc",
        "a" * 41,
        "ab c",
        "ab;drop",
        "acme.example",
        "",
    ],
)
async def test_reserved_or_invalid_slug_is_refused(runtime, slug):
    err = await expect_app_error(runtime, new_spec(slug), "VALIDATION_FAILED")
    assert err.params.get("field") == "slug"
    assert await tenant_row(runtime, slug) is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name_zh": "  "}, "nameZh"),
        ({"primary_color": "blue"}, "primaryColor"),
        ({"time_zone": "Mars/Olympus"}, "timeZone"),
        ({"modules": ("nope",)}, "modules"),
    ],
)
async def test_other_invalid_input_is_refused_before_any_write(runtime, change, field):
    spec = new_spec()
    for name, value in change.items():
        setattr(spec, name, value)
    err = await expect_app_error(runtime, spec, "VALIDATION_FAILED")
    assert err.params.get("field") == field
    assert await tenant_row(runtime, spec.slug) is None


async def test_longest_slug_maps_to_a_valid_schema(runtime):
    slug = f"z{secrets.token_hex(4)}" + "-9" * 15 + "9"
    assert len(slug) == 40
    done = await provision(runtime, new_spec(slug, admin_phone=None), modules=())
    assert done.schema == "t_" + slug.replace("-", "_")
    assert await schema_exists(runtime, done.schema)
