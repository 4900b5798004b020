"""Validation rules for query depth and alias count, built once per schema.

Building them per request (as Strawberry's per-request extensions do) defeats the
validation cache; ``Executor`` caches (document, errors) per query text instead.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    ValidationContext,
    ValidationRule,
)


def _depth(node: Any, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]) -> int:
    selection_set = getattr(node, "selection_set", None)
    if selection_set is None:
        return 0
    deepest = 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            d = 1 + _depth(sel, fragments, seen) if sel.selection_set else 1
        elif isinstance(sel, InlineFragmentNode):
            d = _depth(sel, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            frag = fragments.get(name)
            d = 0 if frag is None or name in seen else _depth(frag, fragments, seen | {name})
        else:
            d = 0
        deepest = max(deepest, d)
    return deepest


def _count_aliases(
    node: Any, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str]
) -> int:
    selection_set = getattr(node, "selection_set", None)
    if selection_set is None:
        return 0
    total = 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            total += (1 if sel.alias else 0) + _count_aliases(sel, fragments, seen)
        elif isinstance(sel, InlineFragmentNode):
            total += _count_aliases(sel, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            frag = fragments.get(name)
            if frag is not None and name not in seen:
                total += _count_aliases(frag, fragments, seen | {name})
    return total


def limit_rules(*, max_depth: int, max_aliases: int) -> list[type[ValidationRule]]:
    class LimitRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            ctx: ValidationContext = self.context
            fragments = {
                d.name.value: d
                for d in ctx.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            if _depth(node, fragments, frozenset()) > max_depth:
                ctx.report_error(
                    GraphQLError(
                        f"Query is deeper than the limit of {max_depth}",
                        node,
                        extensions={"code": "QUERY_TOO_COMPLEX", "limit": "depth"},
                    )
                )
            if _count_aliases(node, fragments, frozenset()) > max_aliases:
                ctx.report_error(
                    GraphQLError(
                        f"Query uses more than {max_aliases} aliases",
                        node,
                        extensions={"code": "QUERY_TOO_COMPLEX", "limit": "aliases"},
                    )
                )

    return [LimitRule]
