"""HTTP routes of the local storage backend: the upload form target and signed downloads.

With S3 the storage checks the POST policy and the URL signatures; here the app must, so
the upload route enforces everything the policy says (signature, expiry, key, content type,
size range) and the download route accepts only a signature made for that key and expiry.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from wuye.storage.backends import LocalSigner, LocalStorage
from wuye.storage.purposes import KINDS

# the largest body any policy can allow, plus room for the form fields
_MAX_BODY = max(rule.max_size for rule in KINDS.values()) + 64 * 1024
_CHUNK = 1 << 20


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"code": code, "message": message}, status)


def _local(request: Request) -> LocalStorage | None:
    storage = request.app.state.runtime.storage
    return storage if isinstance(storage, LocalStorage) else None


async def upload(request: Request) -> Response:
    storage = _local(request)
    if storage is None:
        return _error(404, "NOT_FOUND", "not the local storage backend")
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        return _error(411, "LENGTH_REQUIRED", "Content-Length is required")
    if int(length) > _MAX_BODY:
        return _error(413, "ENTITY_TOO_LARGE", "the upload is too large")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception:
        return _error(400, "BAD_REQUEST", "not a multipart form")
    try:
        policy = storage.signer.read_policy(
            str(form.get("policy") or ""), str(form.get("signature") or "")
        )
        if policy is None:
            return _error(403, "SIGNATURE_MISMATCH", "the policy signature is not valid")
        if int(policy["exp"]) < time.time():
            return _error(403, "POLICY_EXPIRED", "the upload slot has expired")
        if form.get("key") != policy["key"]:
            return _error(403, "POLICY_VIOLATION", "the key is not the one signed for")
        if form.get("Content-Type") != policy["content_type"]:
            return _error(403, "POLICY_VIOLATION", "the content type is not the one signed for")
        file = form.get("file")
        if not isinstance(file, UploadFile) or file.size is None:
            return _error(400, "BAD_REQUEST", "the form has no file")
        if not int(policy["min"]) <= file.size <= int(policy["max"]):
            return _error(400, "ENTITY_SIZE_OUT_OF_RANGE", "the file size is outside the range")
        key = str(policy["key"])
        path = storage.path(key)
        if path.exists():
            return _error(409, "ALREADY_UPLOADED", "this slot has been used")
        await file.seek(0)

        def chunks() -> Any:
            while chunk := file.file.read(_CHUNK):
                yield chunk

        await asyncio.to_thread(storage.write_file, key, chunks(), str(policy["content_type"]))
    finally:
        await form.close()
    return Response(status_code=204)


async def download(request: Request) -> Response:
    storage = _local(request)
    if storage is None:
        return _error(404, "NOT_FOUND", "not the local storage backend")
    key = request.path_params["key"]
    exp_text = request.query_params.get("exp", "")
    filename = request.query_params.get("dn", "")
    signature = request.query_params.get("sig", "")
    if not exp_text.isdigit() or not storage.signer.verify(
        LocalSigner.get_message(key, int(exp_text), filename), signature
    ):
        return _error(403, "SIGNATURE_MISMATCH", "the signature is not valid for this file")
    if int(exp_text) < time.time():
        return _error(403, "URL_EXPIRED", "the link has expired")
    try:
        path = storage.path(key)
    except ValueError:
        return _error(404, "NOT_FOUND", "no such file")
    if not path.is_file():
        return _error(404, "NOT_FOUND", "no such file")
    headers = {
        "Cache-Control": "private, max-age=60",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    return FileResponse(
        path,
        media_type=storage.content_type(key),
        headers=headers,
        filename=filename or None,
        content_disposition_type="attachment" if filename else "inline",
    )


ROUTES = [
    Route("/files/upload", upload, methods=["POST"]),
    Route("/files/get/{key:path}", download, methods=["GET", "HEAD"]),
]
