"""Login throttling per account and per client address (each test has its own address)."""

from __future__ import annotations

from conftest import LOGIN, TEST_PASSWORD, new_phone
from identity_kit import add_user, client_from, codes, error, random_ip

from wuye.identity.throttle import IP_FACTOR

WRONG = "wrong-pass-1"


def _login(identifier: str, password: str) -> dict:
    return {"i": {"identifier": identifier, "password": password}}


async def test_account_locks_after_max_failed_attempts(runtime, settings, tenant):
    national = tenant.admin_phone[3:]
    async with client_from(runtime) as api:
        # given as many wrong passwords as allowed, in whatever format the number is written
        for attempt in range(settings.login_max_attempts):
            identifier = tenant.admin_phone if attempt % 2 else national
            body = await api(LOGIN, _login(identifier, WRONG), tenant=tenant.slug)
            assert codes(body) == ["INVALID_CREDENTIALS"], attempt
        # when the right password follows
        locked = await api(LOGIN, _login(tenant.admin_phone, TEST_PASSWORD), tenant=tenant.slug)
        en = await api(
            LOGIN,
            _login(tenant.admin_phone, TEST_PASSWORD),
            tenant=tenant.slug,
            headers={"accept-language": "en"},
        )
    # then the account is locked, and the client learns for how long
    assert locked["data"] is None
    err = error(locked)
    assert err["extensions"]["code"] == "TOO_MANY_ATTEMPTS"
    retry_after = err["extensions"]["retry_after"]
    assert isinstance(retry_after, int) and 0 < retry_after <= settings.login_window_s
    assert str(retry_after) in err["message"]
    en_err = error(en)
    assert en_err["extensions"]["code"] == "TOO_MANY_ATTEMPTS"
    assert (
        en_err["message"]
        == f"Too many attempts; try again in {en_err['extensions']['retry_after']} s"
    )
    # and the lock holds from any other address too
    async with client_from(runtime) as elsewhere:
        again = await elsewhere(LOGIN, _login(national, TEST_PASSWORD), tenant=tenant.slug)
        assert codes(again) == ["TOO_MANY_ATTEMPTS"]
        # while other accounts still sign in
        _, phone = await add_user(runtime, tenant)
        ok = await elsewhere(LOGIN, _login(phone, TEST_PASSWORD), tenant=tenant.slug)
        assert "errors" not in ok, ok


async def test_a_successful_login_resets_the_account_counter(runtime, settings, tenant):
    async with client_from(runtime) as api:
        for _ in range(2):
            # given one failure short of the limit
            for _ in range(settings.login_max_attempts - 1):
                body = await api(LOGIN, _login(tenant.admin_phone, WRONG), tenant=tenant.slug)
                assert codes(body) == ["INVALID_CREDENTIALS"]
            # when the right password comes
            ok = await api(LOGIN, _login(tenant.admin_phone, TEST_PASSWORD), tenant=tenant.slug)
            # then it works, and the count starts over
            assert "errors" not in ok, ok


async def test_one_address_failing_across_accounts_is_locked_out(runtime, settings, tenant):
    ip = random_ip()
    limit = settings.login_max_attempts * IP_FACTOR
    async with client_from(runtime, ip) as api:
        # given one address failing for many different accounts
        for _ in range(limit):
            body = await api(LOGIN, _login(new_phone(), WRONG), tenant=tenant.slug)
            assert codes(body) == ["INVALID_CREDENTIALS"]
        # when it signs in to a real account with the right password
        blocked = await api(LOGIN, _login(tenant.admin_phone, TEST_PASSWORD), tenant=tenant.slug)
    # then the address is locked out
    assert codes(blocked) == ["TOO_MANY_ATTEMPTS"]
    assert error(blocked)["extensions"]["retry_after"] > 0
    # but the account itself is not: from another address it signs in
    async with client_from(runtime) as other:
        ok = await other(LOGIN, _login(tenant.admin_phone, TEST_PASSWORD), tenant=tenant.slug)
    assert "errors" not in ok, ok
