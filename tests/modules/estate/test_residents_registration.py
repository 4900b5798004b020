"""业主注册 end to end: sign up, claim a unit, staff review, and the resident's own view."""

from __future__ import annotations

from conftest import TEST_PASSWORD, login, new_phone
from residents_kit import (
    APPROVE,
    CLAIM,
    CLAIMABLE,
    CLAIMS,
    CREATE,
    MY_CLAIMS,
    MY_CO,
    MY_PROFILES,
    MY_UNITS,
    PEOPLE,
    REGISTER,
    REJECT,
    codes,
    error,
    make_estate,
    ok,
    register,
)
from sqlalchemy import func, select

from wuye.identity.models import User
from wuye.modules.estate.models import Occupancy, Person, UnitClaim

LAYOUT = {"阳光花园": {"1号楼": ["101", "102"]}, "翠湖苑": {"A座": ["1-802"]}}


def _claim(
    estate, community="阳光花园", building="1号楼", room="101", relation="owner", name="张三"
):
    return {
        "i": {
            "communityId": estate.cid(community),
            "buildingId": estate.bid(f"{community}/{building}"),
            "roomNo": room,
            "relation": relation,
            "name": name,
        }
    }


async def test_register_claim_approve_and_self_service(api, runtime, tenant, admin_token):
    # given an estate and a person already living in 101 (entered by staff)
    estate = await make_estate(runtime, tenant, LAYOUT)
    neighbour_phone = new_phone()
    ok(
        await api(
            CREATE,
            {
                "i": {
                    "name": "邻居",
                    "phone": neighbour_phone,
                    "unitId": estate.uid("阳光花园/1号楼/101"),
                    "relation": "owner",
                    "isPrimary": True,
                }
            },
            tenant=tenant.slug,
            token=admin_token,
        )
    )

    # when a resident signs up
    phone = new_phone()
    signed_up = ok(
        await api(
            REGISTER,
            {"i": {"phone": phone, "password": TEST_PASSWORD, "name": "张三"}},
            tenant=tenant.slug,
        )
    )["registerResident"]

    # then they are signed in as a resident, and can sign in again with the password
    assert signed_up["user"]["kind"] == "resident"
    assert [r["key"] for r in signed_up["user"]["roles"]] == ["resident"]
    assert signed_up["accessToken"] and signed_up["refreshToken"]
    token = (await login(api, tenant.slug, phone))["accessToken"]

    # and see the communities and buildings they may claim a unit in
    claimable = ok(await api(CLAIMABLE, tenant=tenant.slug, token=token))["claimableCommunities"]
    assert [c["name"] for c in claimable] == ["阳光花园", "翠湖苑"]
    assert claimable[0]["buildings"] == [{"id": estate.bid("阳光花园/1号楼"), "name": "1号楼"}]

    # when they claim 101 as family
    claim = ok(
        await api(CLAIM, _claim(estate, relation="family"), tenant=tenant.slug, token=token)
    )["claimUnit"]
    assert claim["status"] == "pending" and claim["unit"]["roomNo"] == "101"

    # then a second claim of the same unit is a conflict
    again = await api(CLAIM, _claim(estate), tenant=tenant.slug, token=token)
    assert error(again)["extensions"]["code"] == "CONFLICT"

    # and they have no units yet
    assert ok(await api(MY_UNITS, tenant=tenant.slug, token=token))["myUnits"] == []

    # when staff list pending claims and approve it
    pending = ok(await api(CLAIMS, tenant=tenant.slug, token=admin_token))["unitClaims"]["edges"]
    assert [e["node"]["id"] for e in pending] == [claim["id"]]
    approved = await api(
        APPROVE, {"i": {"claimId": claim["id"]}}, tenant=tenant.slug, token=admin_token
    )
    assert ok(approved)["approveUnitClaim"]["status"] == "approved"

    # then approving it again is a conflict
    twice = await api(
        APPROVE, {"i": {"claimId": claim["id"]}}, tenant=tenant.slug, token=admin_token
    )
    assert error(twice)["extensions"]["code"] == "CONFLICT"
    rejected_late = await api(
        REJECT,
        {"i": {"claimId": claim["id"], "reason": "x"}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert error(rejected_late)["extensions"]["code"] == "CONFLICT"

    # and the resident's person record is linked to their account, living in 101 as family
    async with runtime.db.tenant_session(tenant.schema) as s:
        user_id = await s.scalar(select(User.id).where(User.phone == phone))
        person = await s.scalar(select(Person).where(Person.user_id == user_id))
        assert person is not None and person.name == "张三" and person.phone_last4 == phone[-4:]
        relations = list(
            await s.scalars(select(Occupancy.relation).where(Occupancy.person_id == person.id))
        )
        assert relations == ["family"]

    # and they see their unit, their co-resident (phone masked) and their community profile
    units = ok(await api(MY_UNITS, tenant=tenant.slug, token=token))["myUnits"]
    assert [(u["unit"]["roomNo"], u["relation"]) for u in units] == [("101", "family")]
    assert units[0]["unit"]["communityName"] == "阳光花园"
    co = ok(
        await api(MY_CO, {"u": estate.uid("阳光花园/1号楼/101")}, tenant=tenant.slug, token=token)
    )["myCoResidents"]
    masked = neighbour_phone[:-8] + "****" + neighbour_phone[-4:]
    assert co == [{"name": "邻居", "relation": "owner", "isPrimary": True, "phone": masked}]
    profiles = ok(await api(MY_PROFILES, tenant=tenant.slug, token=token))["myCommunityProfiles"]
    assert [(p["name"], p["hotline"]) for p in profiles] == [("阳光花园", "400-800-0000")]
    assert profiles[0]["profile"]["services"] == ["保洁", "安保"]
    mine = ok(await api(MY_CLAIMS, tenant=tenant.slug, token=token))["myUnitClaims"]
    assert [c["status"] for c in mine] == ["approved"]

    # and claiming the unit they already live in is a conflict
    lives = await api(CLAIM, _claim(estate), tenant=tenant.slug, token=token)
    assert error(lives)["extensions"]["code"] == "CONFLICT"


async def test_reject_needs_a_reason(api, runtime, tenant, admin_token):
    # given a pending claim
    estate = await make_estate(runtime, tenant, LAYOUT)
    token, _ = await register(api, tenant)
    claim = ok(await api(CLAIM, _claim(estate), tenant=tenant.slug, token=token))["claimUnit"]

    # when staff reject it without a reason
    body = await api(
        REJECT,
        {"i": {"claimId": claim["id"], "reason": "  "}},
        tenant=tenant.slug,
        token=admin_token,
    )
    # then that fails naming the field, and the claim stays pending
    err = error(body)
    assert (err["extensions"]["code"], err["extensions"]["field"]) == (
        "VALIDATION_FAILED",
        "reason",
    )

    # when they reject it with a reason
    body = await api(
        REJECT,
        {"i": {"claimId": claim["id"], "reason": "房号与产权证不符"}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert ok(body)["rejectUnitClaim"] == {
        "id": claim["id"],
        "status": "rejected",
        "reason": "房号与产权证不符",
    }
    # then the resident sees the reason, has no unit, and may claim again
    mine = ok(await api(MY_CLAIMS, tenant=tenant.slug, token=token))["myUnitClaims"]
    assert [(c["status"], c["reason"]) for c in mine] == [("rejected", "房号与产权证不符")]
    assert ok(await api(MY_UNITS, tenant=tenant.slug, token=token))["myUnits"] == []
    ok(await api(CLAIM, _claim(estate), tenant=tenant.slug, token=token))
    # and rejected claims are listed by status
    listed = ok(await api(CLAIMS, {"status": "rejected"}, tenant=tenant.slug, token=admin_token))[
        "unitClaims"
    ]["edges"]
    assert [e["node"]["id"] for e in listed] == [claim["id"]]


async def test_registration_and_claim_bad_input(api, runtime, tenant):
    # given an estate and a signed-up resident
    estate = await make_estate(runtime, tenant, LAYOUT)
    token, phone = await register(api, tenant)

    async def users() -> int:
        async with runtime.db.tenant_session(tenant.schema) as s:
            return int(await s.scalar(select(func.count()).select_from(User)) or 0)

    before = await users()
    for variables, code, field in [
        ({"phone": "123", "password": TEST_PASSWORD, "name": "甲"}, "VALIDATION_FAILED", "phone"),
        (
            {"phone": new_phone(), "password": "short", "name": "甲"},
            "VALIDATION_FAILED",
            "password",
        ),
        (
            {"phone": new_phone(), "password": TEST_PASSWORD, "name": ""},
            "VALIDATION_FAILED",
            "name",
        ),
    ]:
        # when sign-up input is invalid, then the error names the field
        err = error(await api(REGISTER, {"i": variables}, tenant=tenant.slug))
        assert (err["extensions"]["code"], err["extensions"].get("field")) == (code, field)
    # and an already registered phone is a conflict
    dup = await api(
        REGISTER,
        {"i": {"phone": phone, "password": TEST_PASSWORD, "name": "乙"}},
        tenant=tenant.slug,
    )
    assert codes(dup) == ["CONFLICT"]
    # and no account was created
    assert await users() == before

    for variables, code, field in [
        (_claim(estate, room="999"), "NOT_FOUND", "roomNo"),
        (_claim(estate, relation="landlord"), "VALIDATION_FAILED", "relation"),
        (_claim(estate, name=" "), "VALIDATION_FAILED", "name"),
    ]:
        # when a claim is invalid, then the error names the field
        err = error(await api(CLAIM, variables, tenant=tenant.slug, token=token))
        assert (err["extensions"]["code"], err["extensions"].get("field")) == (code, field)
    # a building of another community is not found
    wrong = _claim(estate)
    wrong["i"]["buildingId"] = estate.bid("翠湖苑/A座")
    err = error(await api(CLAIM, wrong, tenant=tenant.slug, token=token))
    assert (err["extensions"]["code"], err["extensions"]["field"]) == ("NOT_FOUND", "buildingId")
    # and nothing was written
    async with runtime.db.tenant_session(tenant.schema) as s:
        assert await s.scalar(select(func.count()).select_from(UnitClaim)) == 0


async def test_resident_sees_only_their_own(api, runtime, tenant, admin_token):
    # given two residents approved into different units
    estate = await make_estate(runtime, tenant, LAYOUT)
    tokens = {}
    for room in ("101", "102"):
        tokens[room], _ = await register(api, tenant, name=f"住户{room}")
        claim = ok(
            await api(CLAIM, _claim(estate, room=room), tenant=tenant.slug, token=tokens[room])
        )
        ok(
            await api(
                APPROVE,
                {"i": {"claimId": claim["claimUnit"]["id"]}},
                tenant=tenant.slug,
                token=admin_token,
            )
        )

    # when the resident of 101 asks for the co-residents of 102
    body = await api(
        MY_CO, {"u": estate.uid("阳光花园/1号楼/102")}, tenant=tenant.slug, token=tokens["101"]
    )
    # then it is not found
    assert codes(body) == ["NOT_FOUND"]
    # and of their own unit they see nobody else
    own = await api(
        MY_CO, {"u": estate.uid("阳光花园/1号楼/101")}, tenant=tenant.slug, token=tokens["101"]
    )
    assert ok(own)["myCoResidents"] == []

    # when they try staff queries and mutations
    for doc, variables in [
        (PEOPLE, {"first": 5}),
        (CLAIMS, None),
        (
            CREATE,
            {"i": {"name": "x", "unitId": estate.uid("阳光花园/1号楼/101"), "relation": "owner"}},
        ),
    ]:
        # then they are forbidden
        assert codes(await api(doc, variables, tenant=tenant.slug, token=tokens["101"])) == [
            "FORBIDDEN"
        ]

    # and staff cannot use the resident fields or claim units
    for doc in (MY_UNITS, MY_PROFILES, MY_CLAIMS, CLAIMABLE):
        assert codes(await api(doc, tenant=tenant.slug, token=admin_token)) == ["FORBIDDEN"]
    body = await api(CLAIM, _claim(estate), tenant=tenant.slug, token=admin_token)
    assert codes(body) == ["FORBIDDEN"]
    # and anonymous callers must sign in
    assert codes(await api(MY_UNITS, tenant=tenant.slug)) == ["UNAUTHENTICATED"]


async def test_sign_ups_are_rate_limited_per_phone(runtime, tenant):
    """Given someone retrying sign-ups for one phone number from one address,
    when they exceed the window's attempts, then they get TOO_MANY_ATTEMPTS and no account."""
    import httpx

    from wuye.app import create_app

    transport = httpx.ASGITransport(app=create_app(runtime), client=("10.77.0.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        doc = "mutation($i: RegisterResidentInput!) { registerResident(input: $i) { accessToken } }"

        async def sign_up(password: str) -> dict:
            r = await client.post(
                "/graphql",
                json={
                    "query": doc,
                    "variables": {
                        "i": {"phone": "13700001234", "password": password, "name": "试用"}
                    },
                },
                headers={"x-tenant": tenant.slug},
            )
            return r.json()

        for _ in range(runtime.settings.login_max_attempts):
            body = await sign_up("short")  # refused by validation, but it counts
            assert body["errors"][0]["extensions"]["code"] == "VALIDATION_FAILED"
        body = await sign_up("a-good-pass-123")
        assert body["errors"][0]["extensions"]["code"] == "TOO_MANY_ATTEMPTS"
