"""Helpers for the GraphQL-layer tests: a test module with awkward resolvers, extra runtimes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import strawberry
from conftest import Api, Services, build_runtime
from sqlalchemy import text

from wuye.app import create_app
from wuye.errors import AppError
from wuye.graphql.access import mutation, query
from wuye.identity.models import Role
from wuye.modules.base import Module
from wuye.modules.registry import MODULES
from wuye.runtime import Runtime
from wuye.settings import Settings

LEAK = "the-secret-detail-4711"


@strawberry.type
class KitNode:
    level: int

    @strawberry.field
    def child(self) -> KitNode:
        return KitNode(level=self.level + 1)


@strawberry.type
class KitQuery:
    @query(public=True)
    async def kit_boom(self, info: strawberry.Info) -> int:
        raise RuntimeError(f"database password is {LEAK}")

    @query(public=True)
    async def kit_refuse(self, info: strawberry.Info) -> int:
        raise AppError("CONFLICT")

    @query(public=True)
    async def kit_sleep(self, info: strawberry.Info, seconds: float = 1.0) -> int:
        await info.context.session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return 1

    @query(public=True)
    async def kit_tree(self, info: strawberry.Info) -> KitNode:
        return KitNode(level=1)


@strawberry.type
class KitMutation:
    @mutation(public=True, description="Adds a role whose key is too long: fails at commit")
    async def kit_bad_commit(self, info: strawberry.Info) -> bool:
        info.context.session.add(Role(key="k" * 200, name_zh="坏"))
        return True


KIT = Module(
    key="kit",
    title_zh="测试",
    title_en="Test kit",
    always_on=True,
    query=KitQuery,
    mutation=KitMutation,
)


@contextlib.asynccontextmanager
async def kit_runtime(
    settings: Settings, services: Services, **overrides: Any
) -> AsyncIterator[Runtime]:
    """A runtime with the test module and some settings changed (e.g. production)."""
    rt = build_runtime(settings.model_copy(update=overrides), services, modules=(*MODULES, KIT))
    try:
        yield rt
    finally:
        await rt.close()


@contextlib.asynccontextmanager
async def api_for(runtime: Runtime, path: str = "/graphql") -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, path)


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
