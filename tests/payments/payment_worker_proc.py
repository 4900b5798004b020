"""A worker process for the payment kill test: ``main_sync`` with every module, configured
by WUYE_* environment variables. With ``WUYE_TEST_PAUSE_AT=<stage>`` its settlement stops
at that checkpoint (inside the job's transaction, nothing committed), says so in Redis
(``<prefix>:paused:<stage>``) and waits there to be killed."""

from __future__ import annotations

import asyncio
import logging
import os

from wuye.payments import service
from wuye.settings import Settings
from wuye.workers import main_sync


def pause_at(stage: str, settings: Settings) -> None:
    from redis.asyncio import Redis

    async def checkpoint(at: str) -> None:
        if at != stage:
            return
        async with Redis.from_url(settings.redis_url) as redis:
            await redis.set(f"{settings.redis_prefix}:paused:{stage}", os.getpid(), ex=120)
        await asyncio.sleep(3600)

    service.checkpoint = checkpoint  # type: ignore[assignment]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    if stage := os.environ.get("WUYE_TEST_PAUSE_AT"):
        pause_at(stage, settings)
    main_sync(settings)
