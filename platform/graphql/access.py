"""Access declarations for root fields: deny by default.

Every root Query/Mutation/Subscription field carries exactly one ``Access`` extension, declaring a
permission, "any signed-in principal" or "public". A test walks each schema and fails on a
root field without one. The extension also checks the module switch (set by the schema
assembly for module fields) and writes the audit row of every successful mutation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.types.field import StrawberryField

from graphql import OperationType
from wuye.errors import AppError
from wuye.identity.permissions import Permission


class Access(FieldExtension):
    def __init__(
        self,
        permission: Permission | None = None,
        *,
        public: bool = False,
        signed_in: bool = False,
        module: str | None = None,
    ) -> None:
        if sum([permission is not None, public, signed_in]) != 1:
            raise ValueError("declare exactly one of: permission, public, signed_in")
        self.permission = permission
        self.public = public
        self.signed_in = signed_in
        self.module = module  # filled in by the schema assembly for module fields

    def describe(self) -> str:
        return "public" if self.public else "signed-in" if self.signed_in else str(self.permission)

    async def check(self, ctx: Any) -> None:
        if self.module is not None and not ctx.runtime.module_enabled(ctx.tenant, self.module):
            raise AppError("MODULE_DISABLED", module=self.module)
        if self.permission is not None:
            await ctx.require(self.permission)
        elif self.signed_in:
            await ctx.require_principal()

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        raise TypeError(f"root field {info.field_name!r} must have an async resolver")

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        ctx = info.context
        await self.check(ctx)
        result = await next_(source, info, **kwargs)
        if info.operation.operation is OperationType.MUTATION and info.path.prev is None:
            await ctx.audit(info.field_name, kwargs)
        return result


def query(
    permission: Permission | None = None,
    *,
    public: bool = False,
    signed_in: bool = False,
    description: str | None = None,
    name: str | None = None,
) -> Any:
    """``@query(perm)``: a root query field gated by ``perm`` (or public / signed_in)."""
    return strawberry.field(
        extensions=[Access(permission, public=public, signed_in=signed_in)],
        description=description,
        name=name,
    )


def mutation(
    permission: Permission | None = None,
    *,
    public: bool = False,
    signed_in: bool = False,
    description: str | None = None,
    name: str | None = None,
) -> Any:
    """``@mutation(perm)``: a root mutation, gated and audited."""
    return strawberry.mutation(
        extensions=[Access(permission, public=public, signed_in=signed_in)],
        description=description,
        name=name,
    )


class SubscriptionAccess(Access):
    """``Access`` on a subscription root field: checked once, when the subscription starts
    (graphql-core calls the resolver to create the event stream); the context remembers the
    module so every event re-checks the switch (see ``graphql/ws.py``)."""

    async def resolve_async(
        self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        ctx = info.context
        await self.check(ctx)
        if self.module is not None and hasattr(ctx, "modules"):
            ctx.modules.add(self.module)
        return next_(source, info, **kwargs)  # the resolver's async generator


def subscription(
    permission: Permission | None = None,
    *,
    signed_in: bool = False,
    description: str | None = None,
    name: str | None = None,
) -> Any:
    """``@subscription(perm)`` / ``@subscription(signed_in=True)``: a root subscription
    field (an async generator). Never public: the socket needs a token anyway."""
    return strawberry.subscription(
        extensions=[SubscriptionAccess(permission, signed_in=signed_in)],
        description=description,
        name=name,
    )


def access_of(field: StrawberryField) -> Access | None:
    found = [e for e in field.extensions if isinstance(e, Access)]
    return found[0] if len(found) == 1 else None
