"""Sign-in, access tokens bound to their audience, refresh rotation, logout, revocation."""

from __future__ import annotations

import base64
import json
import secrets
import time

import jwt
import pytest
from conftest import LOGIN, TEST_PASSWORD, login, make_tenant
from identity_kit import (
    LOGOUT,
    REFRESH,
    SET_ACTIVE,
    add_user,
    client_from,
    codes,
    error,
    member,
)
from sqlalchemy import update

from wuye.errors import AppError
from wuye.graphql.ids import encode_id
from wuye.identity.models import Operator, RefreshToken
from wuye.identity.tokens import ADMIN_AUDIENCE, Tokens, tenant_audience

ME = "{ me { id kind phone } }"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _unb64(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def test_login_by_phone_accepts_common_formats(api, tenant):
    # given the tenant admin's phone in E.164 (+86139xxxxxxxx)
    national = tenant.admin_phone[3:]
    formats = [
        national,
        f"+86 {national[:3]} {national[3:7]} {national[7:]}",
        f"{national[:3]}-{national[3:7]}-{national[7:]}",
        f"0086{national}",
        f"86{national}",
        f"(+86) {national}",
        f"  {national}  ",
    ]
    for identifier in formats:
        # when the admin signs in with the number written this way
        payload = await login(api, tenant.slug, identifier)
        # then it is the same account, and `me` shows the E.164 number
        assert payload["user"]["kind"] == "staff"
        assert payload["expiresIn"] > 0
        me = await api(ME, tenant=tenant.slug, token=payload["accessToken"])
        assert me["data"]["me"]["phone"] == tenant.admin_phone, identifier


async def test_login_by_email_is_case_insensitive(api, runtime, tenant):
    # given a staff member with an e-mail address
    email = f"li.wei+{secrets.token_hex(3)}@example.com"
    user_id, _ = await add_user(runtime, tenant, email=email)
    # when they sign in with it in another case and with blanks around it
    payload = await login(api, tenant.slug, f"  {email.upper()} ")
    # then they are signed in as themselves
    assert payload["user"]["id"] == encode_id("User", user_id)
    me = await api("{ me { email } }", tenant=tenant.slug, token=payload["accessToken"])
    assert me["data"]["me"]["email"] == email


async def test_wrong_password_or_unknown_account_is_invalid_credentials(runtime, tenant):
    async with client_from(runtime) as api:
        # when someone signs in with a wrong password, or as nobody
        wrong = await api(
            LOGIN,
            {"i": {"identifier": tenant.admin_phone, "password": "wrong-pass-1"}},
            tenant=tenant.slug,
        )
        nobody = await api(
            LOGIN,
            {"i": {"identifier": "nobody@example.com", "password": TEST_PASSWORD}},
            tenant=tenant.slug,
        )
        malformed = await api(
            LOGIN, {"i": {"identifier": "12345", "password": TEST_PASSWORD}}, tenant=tenant.slug
        )
    # then both get the same answer, which reveals nothing about which accounts exist
    assert wrong["data"] is None and nobody["data"] is None
    assert codes(wrong) == codes(nobody) == ["INVALID_CREDENTIALS"]
    assert error(wrong)["message"] == error(nobody)["message"]
    # and a number that is no phone number is refused as input
    assert codes(malformed) == ["VALIDATION_FAILED"]


async def test_disabled_account_cannot_sign_in_nor_use_its_token(api, runtime, tenant, admin_token):
    # given a signed-in staff member
    staff = await member(api, runtime, tenant)
    # when the admin disables the account
    body = await api(
        SET_ACTIVE,
        {"i": {"userId": staff.gid, "active": False}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert body["data"]["setUserActive"]["isActive"] is False
    # then signing in says so, and the access token still in hand stops working
    async with client_from(runtime) as own:
        denied = await own(
            LOGIN, {"i": {"identifier": staff.phone, "password": TEST_PASSWORD}}, tenant=tenant.slug
        )
    assert codes(denied) == ["ACCOUNT_DISABLED"]
    assert codes(await api(ME, tenant=tenant.slug, token=staff.access)) == ["ACCOUNT_DISABLED"]


async def test_admin_cannot_disable_themselves(api, tenant, admin_token):
    body = await api(
        SET_ACTIVE,
        {"i": {"userId": encode_id("User", tenant.admin_id), "active": False}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert codes(body) == ["CONFLICT"]


async def test_access_token_only_works_at_its_own_tenant(
    api, admin_api, runtime, tenant, admin_token
):
    # given a second tenant
    other = await make_tenant(runtime)
    # when tenant A's token is shown to tenant B, and to the operators' API
    at_b = await api.post(ME, tenant=other.slug, token=admin_token)
    at_admin = await admin_api.post("{ operatorMe { id } }", token=admin_token)
    # then both refuse it
    assert at_b.status_code == 401 and codes(at_b.json()) == ["UNAUTHENTICATED"]
    assert at_admin.status_code == 401 and codes(at_admin.json()) == ["UNAUTHENTICATED"]
    # while tenant A accepts it
    assert (await api(ME, tenant=tenant.slug, token=admin_token))["data"]["me"]["kind"] == "staff"


async def test_operator_token_is_refused_by_tenants(api, admin_api, runtime, tenant):
    # given a platform operator
    email = f"ops-{secrets.token_hex(4)}@wuye.test"
    async with runtime.db.shared_session() as s:
        s.add(
            Operator(email=email, name="运营", password_hash=runtime.passwords.hash(TEST_PASSWORD))
        )
        await s.commit()
    body = await admin_api(
        """mutation($i: LoginInput!) { operatorLogin(input: $i) {
        accessToken operator { email } } }""",
        {"i": {"identifier": email.upper(), "password": TEST_PASSWORD}},
    )
    token = body["data"]["operatorLogin"]["accessToken"]
    # when the operator's token is used on a tenant's API
    refused = await api.post(ME, tenant=tenant.slug, token=token)
    # then it is refused there, while the admin API knows the operator
    assert refused.status_code == 401 and codes(refused.json()) == ["UNAUTHENTICATED"]
    me = await admin_api("{ operatorMe { email } }", token=token)
    assert me["data"]["operatorMe"]["email"] == email


async def test_expired_access_token(api, settings, tenant):
    # given a token that expired a second ago, signed with the right key
    expired = Tokens(settings.secret_key, -1).issue_access(
        subject_id=tenant.admin_id, kind="staff", audience=tenant_audience(tenant.slug)
    )
    # when it is used
    zh = await api.post(ME, tenant=tenant.slug, token=expired)
    en = await api.post(ME, tenant=tenant.slug, token=expired, headers={"accept-language": "en"})
    # then the client is told to sign in again
    assert zh.status_code == 401
    assert codes(zh.json()) == codes(en.json()) == ["TOKEN_EXPIRED"]
    assert error(en.json())["message"] == "Your session has expired; sign in again"


async def test_tampered_tokens_are_unauthenticated(api, runtime, settings, tenant, admin_token):
    # given a valid token and a second account
    other_id, _ = await add_user(runtime, tenant)
    header, payload, signature = admin_token.split(".")
    claims = _unb64(payload)
    now = int(time.time())
    forged = {
        # the subject swapped, the signature kept
        "other subject": f"{header}.{_b64({**claims, 'sub': str(other_id)})}.{signature}",
        # the signature altered
        "bad signature": f"{header}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}",
        # no signature at all
        "alg none": jwt.encode({**claims, "exp": now + 60}, None, algorithm="none"),
        # signed with the platform secret itself rather than the audience key
        "raw secret": jwt.encode(
            {**claims, "exp": now + 60}, settings.secret_key, algorithm="HS256"
        ),
        # the right key of another audience
        "admin key": Tokens(settings.secret_key, 60).issue_access(
            subject_id=tenant.admin_id, kind="staff", audience=ADMIN_AUDIENCE
        ),
        "garbage": "not-a-token",
    }
    for name, token in forged.items():
        # when it is presented
        response = await api.post(ME, tenant=tenant.slug, token=token)
        # then it is refused
        assert response.status_code == 401, name
        assert codes(response.json()) == ["UNAUTHENTICATED"], name


async def test_refresh_rotates_and_replay_revokes_the_family(api, runtime, tenant):
    # given a signed-in user with a second, independent sign-in
    staff = await member(api, runtime, tenant)
    second = await login(api, tenant.slug, staff.phone)
    # when the refresh token is used
    first = await api(REFRESH, {"i": {"refreshToken": staff.refresh}}, tenant=tenant.slug)
    rotated = first["data"]["refreshToken"]
    # then a new pair comes back and the new access token works
    assert rotated["refreshToken"] != staff.refresh
    me = await api(ME, tenant=tenant.slug, token=rotated["accessToken"])
    assert me["data"]["me"]["id"] == rotated["user"]["id"]
    # when the old refresh token is presented again (stolen or replayed)
    replay = await api(REFRESH, {"i": {"refreshToken": staff.refresh}}, tenant=tenant.slug)
    # then it fails, and so does the newest token of that sign-in
    assert codes(replay) == ["UNAUTHENTICATED"]
    newest = await api(
        REFRESH, {"i": {"refreshToken": rotated["refreshToken"]}}, tenant=tenant.slug
    )
    assert codes(newest) == ["UNAUTHENTICATED"]
    # while the other sign-in is untouched
    other = await api(REFRESH, {"i": {"refreshToken": second["refreshToken"]}}, tenant=tenant.slug)
    assert "errors" not in other, other


async def test_refresh_token_is_bound_to_its_tenant_and_expiry(api, runtime, tenant):
    staff = await member(api, runtime, tenant)
    other = await make_tenant(runtime)
    # a refresh token of tenant A means nothing at tenant B
    elsewhere = await api(REFRESH, {"i": {"refreshToken": staff.refresh}}, tenant=other.slug)
    assert codes(elsewhere) == ["UNAUTHENTICATED"]
    # and an expired one is refused
    async with runtime.db.tenant_session(tenant.schema) as s:
        await s.execute(
            update(RefreshToken)
            .where(RefreshToken.subject_id == staff.id)
            .values(expires_at=RefreshToken.created_at)
        )
        await s.commit()
    expired = await api(REFRESH, {"i": {"refreshToken": staff.refresh}}, tenant=tenant.slug)
    assert codes(expired) == ["UNAUTHENTICATED"]


async def test_logout_revokes_the_sign_in(api, runtime, tenant):
    # given a signed-in user
    staff = await member(api, runtime, tenant)
    # when they sign out
    body = await api(LOGOUT, {"i": {"refreshToken": staff.refresh}}, tenant=tenant.slug)
    assert body["data"]["logout"] is True
    # then the refresh token is dead
    again = await api(REFRESH, {"i": {"refreshToken": staff.refresh}}, tenant=tenant.slug)
    assert codes(again) == ["UNAUTHENTICATED"]
    # and an unknown token signs nobody out
    unknown = await api(LOGOUT, {"i": {"refreshToken": "nope"}}, tenant=tenant.slug)
    assert unknown["data"]["logout"] is False


async def test_disabling_a_user_revokes_their_refresh_tokens(api, runtime, tenant, admin_token):
    # given a user signed in twice
    staff = await member(api, runtime, tenant)
    second = await login(api, tenant.slug, staff.phone)
    # when the admin disables and later re-enables the account
    for active in (False, True):
        body = await api(
            SET_ACTIVE,
            {"i": {"userId": staff.gid, "active": active}},
            tenant=tenant.slug,
            token=admin_token,
        )
        assert "errors" not in body, body
    # then none of the earlier sign-ins can be refreshed
    for refresh in (staff.refresh, second["refreshToken"]):
        body = await api(REFRESH, {"i": {"refreshToken": refresh}}, tenant=tenant.slug)
        assert codes(body) == ["UNAUTHENTICATED"]
    # but the user can sign in afresh
    assert (await login(api, tenant.slug, staff.phone))["user"]["id"]


async def test_an_expired_access_token_still_lets_the_client_refresh(api, tenant, settings):
    """Given a client that keeps sending its expired access token,
    when it calls the public refreshToken mutation, then it gets a new pair;
    and a gated field with the same header still answers TOKEN_EXPIRED."""
    from wuye.identity.tokens import Tokens, tenant_audience

    first = await login(api, tenant.slug, tenant.admin_phone)
    expired = Tokens(settings.secret_key, -60).issue_access(
        subject_id=tenant.admin_id, kind="staff", audience=tenant_audience(tenant.slug)
    )
    refreshed = await api.post(
        "mutation($i: RefreshInput!) { refreshToken(input: $i) { accessToken } }",
        {"i": {"refreshToken": first["refreshToken"]}},
        tenant=tenant.slug,
        token=expired,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["data"]["refreshToken"]["accessToken"]
    gated = await api.post("{ me { name } }", tenant=tenant.slug, token=expired)
    assert (
        gated.status_code == 401
        and gated.json()["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"
    )


def test_a_remembered_token_still_expires_on_time(settings):
    """Given a verified (and so remembered) access token that lives one second,
    when it is presented again after its expiry, then it is refused as expired."""
    tokens = Tokens(settings.secret_key, 1)
    token = tokens.issue_access(subject_id=7, kind="staff", audience=tenant_audience("a"))
    assert tokens.verify_access(token, tenant_audience("a")).subject_id == 7
    assert tokens.verify_access(token, tenant_audience("a")).subject_id == 7  # remembered
    with pytest.raises(AppError) as wrong_tenant:
        tokens.verify_access(token, tenant_audience("b"))
    assert wrong_tenant.value.code == "UNAUTHENTICATED"
    time.sleep(2.05)  # JWT expiry has one-second resolution
    with pytest.raises(AppError) as expired:
        tokens.verify_access(token, tenant_audience("a"))
    assert expired.value.code == "TOKEN_EXPIRED"
