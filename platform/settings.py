"""Settings: every knob has a safe default and an environment variable (prefix ``WUYE_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WUYE_", env_file=".env", extra="ignore")

    # --- runtime -----------------------------------------------------------------
    env: str = "development"  # development | test | production
    debug: bool = True  # GraphiQL, introspection and unmasked errors
    data_dir: Path = Path(".wuye")  # embedded PostgreSQL / Redis data (git-ignored)
    host: str = "127.0.0.1"
    port: int = 8000
    trust_forwarded_for: bool = False  # behind a load balancer that sets X-Forwarded-For

    # --- services (empty -> embedded) --------------------------------------------
    database_url: str = ""  # postgresql+psycopg://user@host/db
    # Extra database clusters by key, e.g. {"eu-1": "postgresql+psycopg://..."}; a tenant
    # row names its cluster ("default" is database_url).
    database_clusters: dict[str, str] = Field(default_factory=dict)
    redis_url: str = ""
    db_pool_size: int = 10
    db_max_overflow: int = 10
    statement_timeout_ms: int = 5_000
    request_timeout_s: float = 15.0

    # --- tenancy -----------------------------------------------------------------
    platform_domain: str = "localhost"  # tenants live at <slug>.<platform_domain>
    tenant_cache_ttl_s: float = 60.0

    # --- identity ----------------------------------------------------------------
    secret_key: str = "dev-insecure-change-me-0123456789abcdef"
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600
    invite_ttl_s: int = 7 * 24 * 3600
    login_max_attempts: int = 5  # per account (and 4x per IP) within the window
    login_window_s: int = 15 * 60
    default_phone_region: str = "CN"

    # --- GraphQL limits ----------------------------------------------------------
    graphql_max_depth: int = 12
    graphql_max_aliases: int = 30
    graphql_max_tokens: int = 5_000
    graphql_max_page_size: int = 100
    graphql_default_page_size: int = 20
    graphql_document_cache_size: int = 1_000

    # --- workers -----------------------------------------------------------------
    worker_max_jobs: int = 200
    worker_job_timeout_s: int = 300
    queue_name: str = "wuye:queue"
    redis_prefix: str = "wuye"  # namespace of every other Redis key (throttles, caches)
    outbox_sweep_after_s: int = 120  # re-enqueue intents not done after this long

    # --- notifications (platform accounts; tenants add sign names, template ids) ---
    # Each external channel has a provider; "log" only writes the message to the log
    # (the development default).
    email_provider: str = "log"  # log | smtp
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_tls: str = "none"  # none | starttls | tls
    smtp_timeout_s: float = 10.0
    email_from: str = "noreply@wuye.local"
    sms_provider: str = "log"  # log | aliyun
    aliyun_sms_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    aliyun_access_key_id: str = ""
    aliyun_access_key_secret: str = ""
    aliyun_sms_region: str = "cn-hangzhou"
    wechat_provider: str = "log"  # log | wechat
    wechat_api_base: str = "https://api.weixin.qq.com"
    notify_http_timeout_s: float = 10.0
    notify_batch_size: int = 500  # messages claimed per delivery round
    notify_max_attempts: int = 6  # then the message is failed
    notify_retry_base_s: int = 30  # back-off: base * 2^(attempt-1), capped at an hour

    # --- file storage (docs/storage.md) --------------------------------------------
    storage_backend: str = "local"  # local (files under storage_local_dir) | s3
    storage_local_dir: Path | None = None  # default: <data_dir>/files
    # Prefix of the URLs the app serves for the local backend ("" -> relative, same host)
    public_base_url: str = ""
    s3_bucket: str = ""
    s3_region: str = ""
    s3_endpoint_url: str = ""  # any S3-compatible service: MinIO, Aliyun OSS, Tencent COS
    s3_access_key_id: str = ""  # empty: boto3's own credential chain
    s3_secret_access_key: str = ""
    s3_addressing_style: str = "auto"  # auto | virtual | path (MinIO)
    storage_upload_ttl_s: int = 600  # an upload slot's lifetime
    storage_download_ttl_s: int = 300  # a download URL's lifetime
    storage_uploads_per_hour: int = 100  # upload slots per user per hour

    # --- online payments (docs/modules/payments.md) -----------------------------------
    # Provider endpoints (tests point them at local servers)
    stripe_api_base: str = "https://api.stripe.com"
    wechatpay_api_base: str = "https://api.mch.weixin.qq.com"
    alipay_gateway: str = "https://openapi.alipay.com/gateway.do"
    # Where providers post notifications: <base>/payments/notify/<provider>/<tenant slug>
    # ("" -> public_base_url, else https://<slug>.<platform_domain>)
    payments_notify_base_url: str = ""
    payments_provider_timeout_s: float = 10.0  # one outbound call
    payments_provider_attempts: int = 3  # tries of a call that timed out or got a 5xx
    payments_sweep_after_s: int = 300  # open payments older than this are queried
    payments_expire_after_s: int = 2 * 3600  # still unpaid after this: closed

    @property
    def production(self) -> bool:
        return self.env == "production"


@lru_cache
def get_settings() -> Settings:
    return Settings()
