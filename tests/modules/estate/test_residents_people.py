"""Residents entered by staff: create, update, link to units, move out, masking, encryption,
search and bad input."""

from __future__ import annotations

from conftest import TEST_PASSWORD, count_statements, new_phone
from residents_kit import (
    CREATE,
    LINK,
    MOVE_OUT,
    PEOPLE,
    PERSON,
    SET_PRIMARY,
    UPDATE,
    error,
    id_number,
    make_estate,
    ok,
    staff,
)
from sqlalchemy import func, select, text

from wuye.crypto import decrypt_field
from wuye.identity.models import AuditLog
from wuye.modules.estate.models import Occupancy, Person

LAYOUT = {"阳光花园": {"1号楼": ["101", "102"], "2号楼": ["201"]}}


async def _count(runtime, tenant, model) -> int:
    async with runtime.db.tenant_session(tenant.schema) as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_create_link_primary_move_out(api, runtime, tenant, admin_token):
    # given an estate and an administrator
    estate = await make_estate(runtime, tenant, LAYOUT)
    phone, idn = new_phone(), id_number()

    # when they enter a resident living in 101 as its primary contact, with an app account
    body = await api(
        CREATE,
        {
            "i": {
                "name": "李四",
                "phone": phone[3:],  # a bare 11-digit number is +86
                "idNumber": idn.lower(),
                "unitId": estate.uid("阳光花园/1号楼/101"),
                "relation": "owner",
                "moveInOn": "2024-03-01",
                "isPrimary": True,
                "createAccount": True,
            }
        },
        tenant=tenant.slug,
        token=admin_token,
    )

    # then the person exists with full data (the admin may view sensitive data) and an invite
    created = ok(body)["createResident"]
    person = created["person"]
    assert created["inviteToken"]
    assert person["phone"] == phone and person["idNumber"] == idn
    assert person["hasAppAccount"] is True
    [occ] = person["occupancies"]
    assert occ["relation"] == "owner" and occ["isPrimary"] is True
    assert occ["moveInOn"] == "2024-03-01"
    assert occ["unit"]["roomNo"] == "101" and occ["unit"]["communityName"] == "阳光花园"

    # and the invitation signs the resident in
    accepted = await api(
        """mutation($i: AcceptInviteInput!) { acceptInvite(input: $i) { user { kind } } }""",
        {"i": {"token": created["inviteToken"], "password": TEST_PASSWORD}},
        tenant=tenant.slug,
    )
    assert ok(accepted)["acceptInvite"]["user"]["kind"] == "resident"

    # when a second person becomes the primary contact of 101
    other = ok(
        await api(
            CREATE,
            {
                "i": {
                    "name": "王五",
                    "unitId": estate.uid("阳光花园/1号楼/101"),
                    "relation": "family",
                }
            },
            tenant=tenant.slug,
            token=admin_token,
        )
    )["createResident"]["person"]
    second = other["occupancies"][0]
    primary = await api(
        SET_PRIMARY, {"i": {"occupancyId": second["id"]}}, tenant=tenant.slug, token=admin_token
    )
    assert ok(primary)["setPrimaryContact"]["isPrimary"] is True

    # then the first one is no longer the primary contact
    again = ok(await api(PERSON, {"id": person["id"]}, tenant=tenant.slug, token=admin_token))
    assert again["person"]["occupancies"][0]["isPrimary"] is False

    # when the first person is also linked to 201 as a tenant, as its primary contact
    linked = await api(
        LINK,
        {
            "i": {
                "personId": person["id"],
                "unitId": estate.uid("阳光花园/2号楼/201"),
                "relation": "tenant",
                "isPrimary": True,
            }
        },
        tenant=tenant.slug,
        token=admin_token,
    )
    assert ok(linked)["linkResidentUnit"]["unit"]["roomNo"] == "201"

    # and linking them to 201 twice is a conflict
    twice = await api(
        LINK,
        {
            "i": {
                "personId": person["id"],
                "unitId": estate.uid("阳光花园/2号楼/201"),
                "relation": "tenant",
            }
        },
        tenant=tenant.slug,
        token=admin_token,
    )
    assert error(twice)["extensions"]["code"] == "CONFLICT"

    # when they move out of 101
    moved = await api(
        MOVE_OUT,
        {"i": {"occupancyId": occ["id"], "moveOutOn": "2025-01-31"}},
        tenant=tenant.slug,
        token=admin_token,
    )
    assert ok(moved)["moveOutResident"]["moveOutOn"] == "2025-01-31"

    # then only 201 is current; the history keeps 101
    current = ok(await api(PERSON, {"id": person["id"]}, tenant=tenant.slug, token=admin_token))
    assert [o["unit"]["roomNo"] for o in current["person"]["occupancies"]] == ["201"]

    # when the person's name and phone change and the ID number is cleared
    new = new_phone()
    updated = await api(
        UPDATE,
        {"i": {"personId": person["id"], "name": "李四四", "phone": new, "idNumber": ""}},
        tenant=tenant.slug,
        token=admin_token,
    )
    data = ok(updated)["updateResident"]
    assert (data["name"], data["phone"], data["idNumber"]) == ("李四四", new, None)


async def test_bad_input_names_the_field_and_writes_nothing(api, runtime, tenant, admin_token):
    # given an estate and a resident living in 101 since 2024-03-01
    estate = await make_estate(runtime, tenant, LAYOUT)
    unit = estate.uid("阳光花园/1号楼/101")
    person = ok(
        await api(
            CREATE,
            {"i": {"name": "赵六", "unitId": unit, "relation": "owner", "moveInOn": "2024-03-01"}},
            tenant=tenant.slug,
            token=admin_token,
        )
    )["createResident"]["person"]
    people, occupancies = (
        await _count(runtime, tenant, Person),
        await _count(runtime, tenant, Occupancy),
    )

    cases = [
        (CREATE, {"name": "甲", "phone": "12345", "unitId": unit, "relation": "owner"}, "phone"),
        (
            CREATE,
            {"name": "乙", "idNumber": "110105198001011234", "unitId": unit, "relation": "owner"},
            "idNumber",
        ),
        (CREATE, {"name": "丙", "unitId": unit, "relation": "landlord"}, "relation"),
        (CREATE, {"name": "  ", "unitId": unit, "relation": "owner"}, "name"),
        (
            CREATE,
            {"name": "丁", "unitId": unit, "relation": "owner", "createAccount": True},
            "phone",
        ),
        (
            MOVE_OUT,
            {"occupancyId": person["occupancies"][0]["id"], "moveOutOn": "2024-02-28"},
            "moveOutOn",
        ),
        (UPDATE, {"personId": person["id"], "idNumber": "11010519800101123"}, "idNumber"),
    ]
    for doc, variables, field in cases:
        # when the input is invalid
        body = await api(doc, {"i": variables}, tenant=tenant.slug, token=admin_token)
        # then the error names the field
        err = error(body)
        assert err["extensions"]["code"] == "VALIDATION_FAILED", (variables, body)
        assert err["extensions"]["field"] == field, (variables, body)

    # and nothing was written
    assert await _count(runtime, tenant, Person) == people
    assert await _count(runtime, tenant, Occupancy) == occupancies
    after = ok(await api(PERSON, {"id": person["id"]}, tenant=tenant.slug, token=admin_token))
    assert after["person"]["occupancies"][0]["moveOutOn"] is None


async def test_id_number_is_stored_encrypted_per_tenant(
    api, runtime, tenant, admin_token, settings
):
    # given a resident entered with an ID number
    estate = await make_estate(runtime, tenant, LAYOUT)
    idn = id_number()
    person = ok(
        await api(
            CREATE,
            {
                "i": {
                    "name": "钱七",
                    "idNumber": idn,
                    "unitId": estate.uid("阳光花园/1号楼/101"),
                    "relation": "owner",
                }
            },
            tenant=tenant.slug,
            token=admin_token,
        )
    )["createResident"]["person"]
    assert person["idNumber"] == idn

    # when the raw row is read
    async with runtime.db.tenant_session(tenant.schema) as s:
        row = (await s.execute(text("SELECT id_number_enc, id_number_hint FROM people"))).one()
    blob, hint = bytes(row[0]), row[1]

    # then the column does not hold the plaintext; the hint is masked
    assert idn.encode() not in blob
    assert hint == idn[:6] + "********" + idn[-4:]
    # and it decrypts under this tenant's key only
    key = settings.secret_key
    assert decrypt_field(key, purpose="id_number", tenant=tenant.slug, blob=blob) == idn
    try:
        decrypt_field(key, purpose="id_number", tenant=tenant.slug + "-other", blob=blob)
    except ValueError:
        pass
    else:
        raise AssertionError("decrypted under another tenant's key")


async def test_masked_unless_view_sensitive_and_full_reads_audited(
    api, runtime, tenant, admin_token
):
    # given a resident with phone and ID number, and a customer-service agent of the community
    estate = await make_estate(runtime, tenant, LAYOUT)
    phone, idn = new_phone(), id_number()
    person = ok(
        await api(
            CREATE,
            {
                "i": {
                    "name": "孙八",
                    "phone": phone,
                    "idNumber": idn,
                    "unitId": estate.uid("阳光花园/1号楼/101"),
                    "relation": "owner",
                }
            },
            tenant=tenant.slug,
            token=admin_token,
        )
    )["createResident"]["person"]
    agent = await staff(
        api,
        runtime,
        tenant,
        roles=("customer_service",),
        communities=(estate.communities["阳光花园"],),
    )

    # when the agent reads the person
    seen = ok(await api(PERSON, {"id": person["id"]}, tenant=tenant.slug, token=agent))["person"]

    # then phone and ID number are masked, and no read is audited
    assert seen["phone"] == phone[:-8] + "****" + phone[-4:]
    assert seen["idNumber"] == idn[:6] + "********" + idn[-4:]

    async def audited() -> int:
        async with runtime.db.tenant_session(tenant.schema) as s:
            return int(
                await s.scalar(
                    select(func.count())
                    .select_from(AuditLog)
                    .where(AuditLog.action == "viewIdNumber")
                )
                or 0
            )

    # (only the administrator's own read when creating the person was audited)
    assert await audited() == 1

    # when the administrator (who may view sensitive data) lists people
    body = ok(await api(PEOPLE, {"first": 10}, tenant=tenant.slug, token=admin_token))
    node = body["people"]["edges"][0]["node"]

    # then they see full data, and the read is audited with the person
    assert (node["phone"], node["idNumber"]) == (phone, idn)
    assert await audited() == 2
    async with runtime.db.tenant_session(tenant.schema) as s:
        row = await s.scalar(
            select(AuditLog).where(AuditLog.action == "viewIdNumber").order_by(AuditLog.id.desc())
        )
        assert row is not None and row.object_type == "Person" and row.actor_kind == "staff"
        assert row.detail == {"personId": int(row.object_id)}


async def test_search_filters_and_pagination(api, runtime, tenant, admin_token):
    # given residents in two buildings
    estate = await make_estate(runtime, tenant, LAYOUT)
    phones = {}
    for name, unit, relation in [
        ("周一", "阳光花园/1号楼/101", "owner"),
        ("周二", "阳光花园/1号楼/102", "tenant"),
        ("吴三", "阳光花园/2号楼/201", "family"),
    ]:
        phones[name] = new_phone()
        ok(
            await api(
                CREATE,
                {
                    "i": {
                        "name": name,
                        "phone": phones[name],
                        "unitId": estate.uid(unit),
                        "relation": relation,
                    }
                },
                tenant=tenant.slug,
                token=admin_token,
            )
        )

    async def names(**variables) -> list[str]:
        body = ok(await api(PEOPLE, variables, tenant=tenant.slug, token=admin_token))
        return [e["node"]["name"] for e in body["people"]["edges"]]

    # then a name fragment, the last 4 digits and a longer phone fragment each find people
    assert await names(search="周") == ["周一", "周二"]
    assert await names(search=phones["吴三"][-4:]) == ["吴三"]
    assert await names(search=phones["周二"][-7:]) == ["周二"]
    assert await names(search="%") == []
    # and the filters narrow by building and relation
    assert await names(buildingId=estate.bid("阳光花园/2号楼")) == ["吴三"]
    assert await names(relation="tenant") == ["周二"]
    assert await names(communityId=estate.cid("阳光花园")) == ["周一", "周二", "吴三"]
    # and Relay pagination walks the list
    page = ok(await api(PEOPLE, {"first": 2}, tenant=tenant.slug, token=admin_token))["people"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is True
    rest = ok(
        await api(
            PEOPLE,
            {"first": 2, "after": page["pageInfo"]["endCursor"]},
            tenant=tenant.slug,
            token=admin_token,
        )
    )["people"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["吴三"]


async def test_people_statement_count_is_constant(api, runtime, tenant, admin_token):
    # given a scoped agent (so the data scope is read too) and residents with units
    estate = await make_estate(
        runtime, tenant, {"大社区": {"1号楼": [f"{i:03d}" for i in range(50)]}}
    )
    agent = await staff(
        api,
        runtime,
        tenant,
        roles=("customer_service",),
        communities=(estate.communities["大社区"],),
    )

    async def add(n_from: int, n_to: int) -> None:
        async with runtime.db.tenant_session(tenant.schema) as s:
            for i in range(n_from, n_to):
                p = Person(name=f"住户{i}", phone=None, phone_last4="")
                s.add(p)
                await s.flush()
                s.add(
                    Occupancy(
                        community_id=estate.communities["大社区"],
                        unit_id=estate.units[f"大社区/1号楼/{i:03d}"],
                        person_id=p.id,
                        relation="owner",
                    )
                )
            await s.commit()

    async def statements() -> int:
        with count_statements(runtime) as seen:
            body = ok(await api(PEOPLE, {"first": 50}, tenant=tenant.slug, token=agent))
        assert all(e["node"]["occupancies"] for e in body["people"]["edges"])
        return len(seen)

    # when 20 people are listed, then 50
    await add(0, 20)
    few = await statements()
    await add(20, 50)
    many = await statements()

    # then the request runs the same number of statements
    assert few == many, (few, many)
