"""Request-wide DataLoaders for list fields (no N+1): one batched fetch per page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")


def batch(
    ctx: Any,
    key: str,
    fetch: Callable[[AsyncSession, list[K]], Awaitable[Mapping[K, V]]],
    default: D,
) -> DataLoader[K, V | D]:
    """The request's DataLoader named ``key`` over ``fetch`` (keys -> found, in the
    request's session); ``default`` for the keys ``fetch`` did not find."""

    async def load(keys: Sequence[K]) -> list[V | D]:
        found = await fetch(ctx.session, list(keys))
        return [found.get(k, default) for k in keys]

    return ctx.loader(key, lambda: DataLoader(load_fn=load))  # type: ignore[no-any-return]
