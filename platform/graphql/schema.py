"""Schema assembly: core types plus each registered module's contributions, per surface.

It receives the module list (from the runtime); modules import the toolkit, never this.
"""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from strawberry.schema.name_converter import NameConverter
from strawberry.tools import merge_types

from wuye.graphql.access import Access, access_of
from wuye.identity.graphql import (
    IdentityMutation,
    IdentityQuery,
    OperatorAuthMutation,
    OperatorAuthQuery,
)
from wuye.modules.base import Module
from wuye.notify.graphql import NotifyMutation, NotifyQuery, NotifySubscription
from wuye.storage.graphql import StorageMutation, StorageQuery
from wuye.tenancy.graphql import AdminMutation, AdminQuery, TenantPublicQuery


class SchemaAssemblyError(RuntimeError):
    pass


def _fields(t: type) -> list[strawberry.types.field.StrawberryField]:
    return list(t.__strawberry_definition__.fields)  # type: ignore[attr-defined]


def _merge(name: str, types: Sequence[type]) -> type:
    seen: dict[str, str] = {}
    names = NameConverter()  # the schema's own naming: `foo_bar` and `fooBar` are one field
    for t in types:
        for f in _fields(t):
            gql_name = names.from_field(f)
            if gql_name in seen:
                raise SchemaAssemblyError(
                    f"{name}.{gql_name} is declared by both {seen[gql_name]} and {t.__name__}"
                )
            seen[gql_name] = t.__name__
    return merge_types(name, tuple(types))


def _types(contribution: type | tuple[type, ...] | None) -> tuple[type, ...]:
    if contribution is None:
        return ()
    return contribution if isinstance(contribution, tuple) else (contribution,)


def _gate_module_fields(module: Module) -> None:
    """Tag every root field a module contributes with its key (-> MODULE_DISABLED)."""
    for t in (*_types(module.query), *_types(module.mutation), *_types(module.subscription)):
        for f in _fields(t):
            access = access_of(f)
            if access is None:
                raise SchemaAssemblyError(
                    f"{module.key}: root field {f.python_name!r} declares no access"
                )
            access.module = module.key


def build_tenant_schema(modules: Sequence[Module]) -> strawberry.Schema:
    for m in modules:
        _gate_module_fields(m)
    queries = [
        TenantPublicQuery,
        IdentityQuery,
        NotifyQuery,
        StorageQuery,
        *(t for m in modules for t in _types(m.query)),
    ]
    mutations = [
        IdentityMutation,
        NotifyMutation,
        StorageMutation,
        *(t for m in modules for t in _types(m.mutation)),
    ]
    subscriptions = [
        NotifySubscription,
        *(t for m in modules for t in _types(m.subscription)),
    ]
    return strawberry.Schema(
        query=_merge("Query", queries),
        mutation=_merge("Mutation", mutations),
        subscription=_merge("Subscription", subscriptions),
    )


def build_admin_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=_merge("Query", [OperatorAuthQuery, AdminQuery]),
        mutation=_merge("Mutation", [OperatorAuthMutation, AdminMutation]),
    )


def root_fields_without_access(schema: strawberry.Schema) -> list[str]:
    """Root fields lacking an ``Access`` declaration (the deny-by-default test wants none)."""
    missing = []
    for root in (schema.query, schema.mutation, schema.subscription):
        if root is None:
            continue
        for f in _fields(root):
            if not any(isinstance(e, Access) for e in f.extensions):
                missing.append(f"{root.__name__}.{f.graphql_name or f.python_name}")
    return missing
