"""Residents across tenants and across communities (data scope)."""

from __future__ import annotations

from conftest import login, make_tenant
from residents_kit import (
    APPROVE,
    CLAIM,
    CLAIMS,
    CREATE,
    LINK,
    MOVE_OUT,
    PEOPLE,
    PERSON,
    REJECT,
    UPDATE,
    codes,
    make_estate,
    ok,
    register,
    staff,
)
from sqlalchemy import select

from wuye.modules.estate.models import Occupancy, Person, UnitClaim

LAYOUT = {"X小区": {"1号楼": ["101", "102"]}, "Y小区": {"9号楼": ["901"]}}


async def _resident(api, tenant, token, estate, unit):
    body = await api(
        CREATE,
        {"i": {"name": f"住户{unit[-3:]}", "unitId": estate.uid(unit), "relation": "owner"}},
        tenant=tenant.slug,
        token=token,
    )
    return ok(body)["createResident"]["person"]


async def _claim(api, tenant, estate, community, building, room):
    token, _ = await register(api, tenant)
    body = await api(
        CLAIM,
        {
            "i": {
                "communityId": estate.cid(community),
                "buildingId": estate.bid(f"{community}/{building}"),
                "roomNo": room,
                "relation": "owner",
                "name": "申请人",
            }
        },
        tenant=tenant.slug,
        token=token,
    )
    return ok(body)["claimUnit"]


async def test_data_scope_hides_other_communities(api, runtime, tenant, admin_token):
    # given residents and pending claims in communities X and Y, and an agent scoped to X
    estate = await make_estate(runtime, tenant, LAYOUT)
    px = await _resident(api, tenant, admin_token, estate, "X小区/1号楼/101")
    py = await _resident(api, tenant, admin_token, estate, "Y小区/9号楼/901")
    cx = await _claim(api, tenant, estate, "X小区", "1号楼", "102")
    cy = await _claim(api, tenant, estate, "Y小区", "9号楼", "901")
    agent = await staff(
        api,
        runtime,
        tenant,
        roles=("customer_service",),
        communities=(estate.communities["X小区"],),
    )

    # when the agent lists people and claims
    people = ok(await api(PEOPLE, {"first": 50}, tenant=tenant.slug, token=agent))["people"]
    claims = ok(await api(CLAIMS, tenant=tenant.slug, token=agent))["unitClaims"]["edges"]

    # then only X's are there
    assert [e["node"]["id"] for e in people["edges"]] == [px["id"]] and people["totalCount"] == 1
    assert [e["node"]["id"] for e in claims] == [cx["id"]]
    filtered = ok(
        await api(PEOPLE, {"communityId": estate.cid("Y小区")}, tenant=tenant.slug, token=agent)
    )
    assert filtered["people"]["edges"] == []

    # and Y's person, occupancy, unit and claim are not found for reads and writes
    occ_y = py["occupancies"][0]["id"]
    attempts = [
        (PERSON, {"id": py["id"]}),
        (UPDATE, {"i": {"personId": py["id"], "name": "改名"}}),
        (MOVE_OUT, {"i": {"occupancyId": occ_y, "moveOutOn": "2030-01-01"}}),
        (
            LINK,
            {
                "i": {
                    "personId": py["id"],
                    "unitId": estate.uid("X小区/1号楼/102"),
                    "relation": "owner",
                }
            },
        ),
        (
            LINK,
            {
                "i": {
                    "personId": px["id"],
                    "unitId": estate.uid("Y小区/9号楼/901"),
                    "relation": "owner",
                }
            },
        ),
        (
            CREATE,
            {"i": {"name": "新", "unitId": estate.uid("Y小区/9号楼/901"), "relation": "owner"}},
        ),
        (CREATE, {"i": {"name": "无房"}}),
        (APPROVE, {"i": {"claimId": cy["id"]}}),
        (REJECT, {"i": {"claimId": cy["id"], "reason": "不符"}}),
    ]
    for doc, variables in attempts:
        body = await api(doc, variables, tenant=tenant.slug, token=agent)
        assert codes(body) in (["NOT_FOUND"], ["VALIDATION_FAILED"]), (variables, body)

    # and nothing of Y changed
    async with runtime.db.tenant_session(tenant.schema) as s:
        claim = await s.get(UnitClaim, int(_pk(cy["id"])))
        assert claim is not None and claim.status == "pending"
        names = set(await s.scalars(select(Person.name)))
        assert "改名" not in names and "新" not in names
        open_y = await s.scalar(
            select(Occupancy).where(Occupancy.community_id == estate.communities["Y小区"])
        )
        assert open_y is not None and open_y.move_out_on is None

    # and the agent can approve X's claim
    ok(await api(APPROVE, {"i": {"claimId": cx["id"]}}, tenant=tenant.slug, token=agent))


def _pk(gid: str) -> str:
    import base64

    return base64.urlsafe_b64decode(gid + "=" * (-len(gid) % 4)).decode().split(":")[1]


async def test_other_tenant_cannot_read_or_change(api, runtime, tenant, admin_token):
    # given tenant A with a resident and a pending claim, and tenant B with its own admin
    estate = await make_estate(runtime, tenant, LAYOUT)
    pa = await _resident(api, tenant, admin_token, estate, "X小区/1号楼/101")
    ca = await _claim(api, tenant, estate, "X小区", "1号楼", "102")
    other = await make_tenant(runtime)
    await make_estate(runtime, other, LAYOUT)  # same ids may exist there
    b_token = (await login(api, other.slug, other.admin_phone))["accessToken"]

    # when A's token is used against B, it is rejected outright
    body = await api(PEOPLE, {"first": 5}, tenant=other.slug, token=admin_token)
    assert codes(body) == ["UNAUTHENTICATED"]

    # when B's admin uses A's ids in B
    for doc, variables in [
        (PERSON, {"id": pa["id"]}),
        (UPDATE, {"i": {"personId": pa["id"], "name": "改名"}}),
        (APPROVE, {"i": {"claimId": ca["id"]}}),
    ]:
        body = await api(doc, variables, tenant=other.slug, token=b_token)
        # then nothing of A is found (B has no such rows)
        assert codes(body) == ["NOT_FOUND"], body
    # and B's lists show none of A's people or claims
    assert (
        ok(await api(PEOPLE, {"first": 5}, tenant=other.slug, token=b_token))["people"]["edges"]
        == []
    )
    assert ok(await api(CLAIMS, tenant=other.slug, token=b_token))["unitClaims"]["edges"] == []

    # and A's data is unchanged
    again = ok(await api(PERSON, {"id": pa["id"]}, tenant=tenant.slug, token=admin_token))
    assert again["person"]["name"] == pa["name"]
    pending = ok(await api(CLAIMS, tenant=tenant.slug, token=admin_token))["unitClaims"]["edges"]
    assert [e["node"]["id"] for e in pending] == [ca["id"]]
