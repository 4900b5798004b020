"""Where files live: one ``Storage`` interface, an S3 backend (any S3-compatible service) and
a local-filesystem backend (the ``make dev`` default) whose URLs the app itself serves.

Clients never send file bytes through the API: they get a presigned POST (the storage
enforces the key, content type and size range) and short-lived presigned GET URLs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from wuye.settings import Settings

# Keys are ours (tenants/<slug>/<module>/<hex>[.thumb.jpg]); anything else is refused
# before it nears a path or a URL.
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_.-]*)+$")


def valid_key(key: str) -> bool:
    return bool(KEY_RE.fullmatch(key)) and ".." not in key and len(key) <= 300


@dataclass(frozen=True)
class UploadForm:
    """A browser form upload: POST multipart/form-data to ``url`` with ``fields`` first and
    the file last (field name ``file``)."""

    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    content_type: str
    checksum: str  # the storage's ETag (MD5 hex of a single-part upload)


class Storage(Protocol):
    async def presigned_post(
        self, key: str, content_type: str, min_size: int, max_size: int, expires_s: int
    ) -> UploadForm: ...

    async def head(self, key: str) -> ObjectInfo | None: ...

    async def presigned_get(self, key: str, expires_s: int, filename: str | None = None) -> str: ...

    async def get_bytes(self, key: str) -> bytes: ...

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    async def delete(self, key: str) -> None: ...


def content_disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "ignore").decode().replace('"', "") or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{urllib.parse.quote(filename)}"


# --- S3 ------------------------------------------------------------------------------------


class S3Storage:
    """boto3 in a worker thread (boto3 is synchronous). Works with AWS, MinIO, Aliyun OSS and
    Tencent COS through ``endpoint_url``; MinIO wants ``addressing_style="path"``."""

    def __init__(
        self,
        *,
        bucket: str,
        region: str = "",
        endpoint_url: str = "",
        access_key_id: str = "",
        secret_access_key: str = "",
        addressing_style: str = "auto",
    ) -> None:
        import boto3
        from botocore.config import Config

        if not bucket:
            raise ValueError("the s3 storage backend needs WUYE_S3_BUCKET")
        self.bucket = bucket
        self.client: Any = boto3.client(
            "s3",
            region_name=region or None,
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": addressing_style},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    async def presigned_post(
        self, key: str, content_type: str, min_size: int, max_size: int, expires_s: int
    ) -> UploadForm:
        form = await asyncio.to_thread(
            self.client.generate_presigned_post,
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", min_size, max_size],
            ],
            ExpiresIn=expires_s,
        )
        return UploadForm(form["url"], dict(form["fields"]))

    async def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            r = await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(
            size=int(r["ContentLength"]),
            content_type=str(r.get("ContentType", "")),
            checksum=str(r.get("ETag", "")).strip('"'),
        )

    async def presigned_get(self, key: str, expires_s: int, filename: str | None = None) -> str:
        params = {"Bucket": self.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        url = await asyncio.to_thread(
            self.client.generate_presigned_url, "get_object", Params=params, ExpiresIn=expires_s
        )
        return str(url)

    async def get_bytes(self, key: str) -> bytes:
        def get() -> bytes:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        return await asyncio.to_thread(get)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
        )

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)


# --- local filesystem ----------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LocalSigner:
    """HMAC-SHA256 signatures for the local backend's upload policies and download URLs,
    with a key derived from the platform secret for this purpose only."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"wuye-storage-v1", hashlib.sha256).digest()

    def sign(self, message: str) -> str:
        return _b64(hmac.new(self._key, message.encode(), hashlib.sha256).digest())

    def verify(self, message: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature)

    # upload policies: the signed base64 JSON fixes key, content type, size range, expiry
    def policy(self, key: str, content_type: str, min_size: int, max_size: int, exp: int) -> str:
        doc = {"key": key, "content_type": content_type, "min": min_size, "max": max_size}
        return _b64(json.dumps({**doc, "exp": exp}, separators=(",", ":")).encode())

    def read_policy(self, policy: str, signature: str) -> dict[str, Any] | None:
        if not self.verify("post\n" + policy, signature):
            return None
        try:
            doc = json.loads(_unb64(policy))
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    @staticmethod
    def get_message(key: str, exp: int, filename: str) -> str:
        return f"get\n{key}\n{exp}\n{filename}"


class LocalStorage:
    """Files under ``root``; a ``<file>.meta.json`` beside each keeps its content type.
    Upload and download URLs point at the app (``storage/routes.py``), which checks the
    signatures and the policy the way S3 would."""

    def __init__(self, root: Path, signer: LocalSigner, base_url: str = "") -> None:
        self.root = root.resolve()
        self.signer = signer
        self.base_url = base_url.rstrip("/")

    def path(self, key: str) -> Path:
        if not valid_key(key):
            raise ValueError(f"not a storage key: {key!r}")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"not a storage key: {key!r}")
        return path

    @staticmethod
    def _meta(path: Path) -> Path:
        return path.with_name(path.name + ".meta.json")

    async def presigned_post(
        self, key: str, content_type: str, min_size: int, max_size: int, expires_s: int
    ) -> UploadForm:
        self.path(key)
        policy = self.signer.policy(
            key, content_type, min_size, max_size, int(time.time()) + expires_s
        )
        return UploadForm(
            f"{self.base_url}/files/upload",
            {
                "key": key,
                "Content-Type": content_type,
                "policy": policy,
                "signature": self.signer.sign("post\n" + policy),
            },
        )

    async def head(self, key: str) -> ObjectInfo | None:
        return await asyncio.to_thread(self._head, key)

    def _head(self, key: str) -> ObjectInfo | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            meta = json.loads(self._meta(path).read_text())
        except (OSError, ValueError):
            meta = {}
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        content_type = str(meta.get("content_type", ""))
        return ObjectInfo(path.stat().st_size, content_type, digest.hexdigest())

    async def presigned_get(self, key: str, expires_s: int, filename: str | None = None) -> str:
        self.path(key)
        exp = int(time.time()) + expires_s
        signature = self.signer.sign(LocalSigner.get_message(key, exp, filename or ""))
        query = {"exp": str(exp), "sig": signature}
        if filename:
            query["dn"] = filename
        return f"{self.base_url}/files/get/{key}?{urllib.parse.urlencode(query)}"

    async def get_bytes(self, key: str) -> bytes:
        return await asyncio.to_thread(self.path(key).read_bytes)

    def content_type(self, key: str) -> str:
        try:
            meta = json.loads(self._meta(self.path(key)).read_text())
            return str(meta.get("content_type") or "application/octet-stream")
        except (OSError, ValueError):
            return "application/octet-stream"

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self.write_file, key, [data], content_type)

    def write_file(self, key: str, chunks: Any, content_type: str) -> None:
        """Write atomically (a temporary file renamed into place), then the metadata."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        try:
            with tmp.open("wb") as f:
                for chunk in chunks:
                    f.write(chunk)
            self._meta(path).write_text(json.dumps({"content_type": content_type}))
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    async def delete(self, key: str) -> None:
        def remove() -> None:
            path = self.path(key)
            path.unlink(missing_ok=True)
            self._meta(path).unlink(missing_ok=True)

        await asyncio.to_thread(remove)


def build_storage(settings: Settings) -> S3Storage | LocalStorage:
    if settings.storage_backend == "s3":
        return S3Storage(
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            addressing_style=settings.s3_addressing_style,
        )
    if settings.storage_backend == "local":
        root = settings.storage_local_dir or settings.data_dir / "files"
        return LocalStorage(Path(root), LocalSigner(settings.secret_key), settings.public_base_url)
    raise ValueError(f"unknown storage backend {settings.storage_backend!r} (local | s3)")
