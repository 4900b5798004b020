"""The notification endpoint: ``POST /payments/notify/<provider>/<tenant slug>``.

It verifies with that tenant's credentials, stores the notification once (by the
provider's event id) in that tenant's schema, commits and answers at once; processing
(state change, settlement) runs afterwards in a job."""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wuye.errors import AppError
from wuye.payments import service
from wuye.runtime import Runtime

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024


async def notify(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    provider = request.path_params["provider"]
    slug = request.path_params["tenant"]
    tenant = await runtime.directory.by_slug(slug)
    if tenant is None or not tenant.active:
        return Response(status_code=404)
    body = await request.body()
    if len(body) > MAX_BODY:
        return Response(status_code=413)
    try:
        ok, stored, adapter = await service.receive_notification(
            runtime, tenant, provider, request.headers, body
        )
    except AppError:
        return Response(status_code=404)  # no such provider
    status, headers, answer = adapter.acknowledge(ok)
    from wuye.payments import jobs  # the worker package imports this module's jobs

    task = (
        BackgroundTask(jobs.enqueue_processing, runtime, tenant.slug, stored)
        if stored is not None
        else None
    )
    return Response(answer, status_code=status, headers=dict(headers), background=task)


ROUTES = [Route("/payments/notify/{provider}/{tenant}", notify, methods=["POST"])]
