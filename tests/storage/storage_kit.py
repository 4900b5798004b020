"""Helpers for the storage tests: a test module declaring upload purposes, one runtime and
app per backend (local files; S3 on a moto server), and the client side of an upload."""

from __future__ import annotations

import io
import socket
from dataclasses import dataclass
from typing import Any

import httpx
from conftest import Api, TenantFixture, make_tenant, signed_in

from wuye.identity.permissions import Permission
from wuye.modules.base import Module
from wuye.modules.registry import MODULES
from wuye.runtime import Runtime
from wuye.storage.purposes import UploadPurpose

UPLOAD_STAFF_DOCS = Permission("filestest.docs.upload", "上传文档", "Upload documents")
FILES_TEST = Module(
    key="filestest",
    title_zh="存储测试",
    title_en="Storage test",
    permissions=(UPLOAD_STAFF_DOCS,),
    upload_purposes=(
        UploadPurpose("filestest.photo", "filestest", "photo", thumbnails=True),
        UploadPurpose("filestest.recording", "filestest", "recording"),
        UploadPurpose("filestest.docs", "filestest", "attachment", UPLOAD_STAFF_DOCS),
    ),
)
MODULES_WITH_TEST = (*MODULES, FILES_TEST)
BUCKET = "wuye-test"

REQUEST = """mutation($i: RequestUploadInput!) { requestUpload(input: $i) {
  file { id purpose contentType size filename status thumbnailStatus url }
  url fields { name value } expiresAt } }"""
CONFIRM = """mutation($id: ID!) { confirmUpload(id: $id) {
  id status size contentType url thumbnailStatus thumbnailUrl } }"""
MY_UPLOAD = """query($id: ID!) { myUpload(id: $id) {
  id status url thumbnailStatus thumbnailUrl } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Env:
    """One backend: its runtime, its app's HTTP client and GraphQL client."""

    name: str
    runtime: Runtime
    http: httpx.AsyncClient
    api: Api

    async def tenant(self, modules: tuple[str, ...] = ("filestest",)) -> TenantFixture:
        return await make_tenant(self.runtime, modules=modules)

    async def user(self, tenant: TenantFixture, **kw: Any) -> str:
        kw.setdefault("kind", "resident")
        return (await signed_in(self.api, self.runtime, tenant, **kw)).token

    async def call(
        self, tenant: TenantFixture, token: str, query: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.api(query, variables, tenant=tenant.slug, token=token)

    async def slot(
        self,
        tenant: TenantFixture,
        token: str,
        *,
        purpose: str = "filestest.recording",
        content_type: str = "audio/mpeg",
        size: int,
        filename: str = "",
    ) -> dict[str, Any]:
        body = await self.call(
            tenant,
            token,
            REQUEST,
            {
                "i": {
                    "purpose": purpose,
                    "contentType": content_type,
                    "size": size,
                    "filename": filename,
                }
            },
        )
        return body

    def _client(self, url: str) -> tuple[httpx.AsyncClient, bool]:
        if url.startswith("http://127.0.0.1") or url.startswith("https://"):
            return httpx.AsyncClient(timeout=30), True
        return self.http, False

    async def post_form(
        self, slot: dict[str, Any], data: bytes, content_type: str
    ) -> httpx.Response:
        """What a browser does with the slot: the fields in order, the file last."""
        fields = {f["name"]: f["value"] for f in slot["fields"]}
        client, own = self._client(slot["url"])
        try:
            return await client.post(
                slot["url"], data=fields, files={"file": ("upload.bin", data, content_type)}
            )
        finally:
            if own:
                await client.aclose()

    async def get(self, url: str) -> httpx.Response:
        client, own = self._client(url)
        try:
            return await client.get(url)
        finally:
            if own:
                await client.aclose()


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    return dict(body["data"])


def error(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body.get("errors") or []) == 1, body
    return dict(body["errors"][0])


def jpeg_with_gps(size: tuple[int, int] = (1200, 800)) -> bytes:
    """A JPEG carrying EXIF with a GPS position (and an orientation tag)."""
    from PIL import Image

    img = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° to show upright
    gps = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
    exif[0x8825] = gps  # GPSInfo IFD
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()
