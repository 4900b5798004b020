"""Executes a Strawberry schema through graphql-core with cached parse + validation.

Strawberry's own ``Schema.execute`` runs its extension machinery on every request; we keep
Strawberry for the schema and resolvers and do the per-request work here: one LRU cache
maps a query text to its parsed document and validation errors (limits included), so a
repeated query costs a dict lookup before execution.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.execution import optimized_is_awaitable
from strawberry.schema._graphql_core import execution_context_class_kwargs

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
    specified_rules,
    subscribe,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from wuye.graphql.access import access_of
from wuye.graphql.limits import limit_rules


@dataclass(frozen=True)
class Prepared:
    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]

    @property
    def parse_failed(self) -> bool:
        return self.document is None

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        if self.document is None:
            return None
        ops = [d for d in self.document.definitions if isinstance(d, OperationDefinitionNode)]
        if name is None:
            return ops[0] if len(ops) == 1 else None
        return next((op for op in ops if op.name and op.name.value == name), None)


class Executor:
    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        max_depth: int,
        max_aliases: int,
        max_tokens: int,
        cache_size: int,
        introspection: bool,
    ) -> None:
        self.schema = schema
        self._gql = schema._schema
        self._rules = [*specified_rules, *limit_rules(max_depth=max_depth, max_aliases=max_aliases)]
        if not introspection:
            self._rules.append(NoSchemaIntrospectionCustomRule)
        self._max_tokens = max_tokens
        self._cache: OrderedDict[str, Prepared] = OrderedDict()
        self._cache_size = cache_size
        self._exec_kwargs = execution_context_class_kwargs(schema.execution_context_class)
        self._public_roots = {
            kind: {
                schema.config.name_converter.get_graphql_name(f)
                for f in root.__strawberry_definition__.fields  # type: ignore[attr-defined]
                if (a := access_of(f)) is not None and a.public
            }
            for kind, root in (
                (OperationType.QUERY, schema.query),
                (OperationType.MUTATION, schema.mutation),
            )
            if root is not None
        }

    def only_public_fields(self, op: OperationDefinitionNode) -> bool:
        """Does the operation select nothing but public root fields (login, refresh, ...)?

        A client with an expired access token must still be able to refresh it.
        """
        public = self._public_roots.get(op.operation, set())
        return all(
            isinstance(sel, FieldNode)
            and (sel.name.value in public or sel.name.value == "__typename")
            for sel in op.selection_set.selections
        )

    def prepare(self, query: str) -> Prepared:
        hit = self._cache.get(query)
        if hit is not None:
            self._cache.move_to_end(query)
            return hit
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError as exc:
            prepared = Prepared(None, (exc,))
        else:
            prepared = Prepared(document, tuple(validate(self._gql, document, self._rules)))
        self._cache[query] = prepared
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return prepared

    async def execute(
        self,
        prepared: Prepared,
        *,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
    ) -> ExecutionResult:
        assert prepared.document is not None, "execute only what prepared without errors"
        result = execute(
            self._gql,
            prepared.document,
            root_value=None,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
            **self._exec_kwargs,
        )
        if isinstance(result, ExecutionResult):
            return result
        return await result

    async def subscribe(
        self,
        prepared: Prepared,
        *,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
    ) -> AsyncIterator[ExecutionResult] | ExecutionResult:
        """A subscription's response stream, or an ExecutionResult with its errors (access
        refused, variables that do not fit, ...)."""
        assert prepared.document is not None, "subscribe only what prepared without errors"
        result = subscribe(
            self._gql,
            prepared.document,
            root_value=None,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            **self._exec_kwargs,
        )
        if isinstance(result, ExecutionResult) or not optimized_is_awaitable(result):
            return result  # type: ignore[return-value]
        return await result  # type: ignore[no-any-return, misc]


def operation_kind(op: OperationDefinitionNode | None) -> OperationType | None:
    return op.operation if op is not None else None
