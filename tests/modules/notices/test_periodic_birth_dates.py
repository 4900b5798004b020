"""Birth dates of residents (for periodic birthday greetings): given, or taken from an
18-digit mainland ID number; a date the ID cannot hold is refused with nothing written."""

from __future__ import annotations

from periodic_kit import failure, id_number, make_world, ok
from sqlalchemy import func, select

from wuye.modules.estate.models import Person

CREATE = """mutation($i: CreateResidentInput!) { createResident(input: $i) {
  person { id name birthDate } } }"""
UPDATE = """mutation($i: UpdateResidentInput!) { updateResident(input: $i) { id birthDate } }"""


async def _people(runtime, schema) -> int:
    async with runtime.db.tenant_session(schema) as s:
        return int(await s.scalar(select(func.count()).select_from(Person)) or 0)


async def test_birth_date_comes_from_the_id_number_unless_given(api, runtime):
    world = await make_world(runtime, api)
    slug, token = world.tenant.slug, world.admin

    async def new(**fields):
        body = await api(CREATE, {"i": {"name": "张三", **fields}}, tenant=slug, token=token)
        return ok(body)["createResident"]["person"]

    derived = await new(idNumber=id_number("19800229"))
    assert derived["birthDate"] == "1980-02-29"
    given = await new(idNumber=id_number("19800229"), birthDate="1981-03-04")
    assert given["birthDate"] == "1981-03-04"
    assert (await new())["birthDate"] is None

    # a new ID number moves the date; null clears it; a given date wins over the ID
    pid = derived["id"]
    body = await api(
        UPDATE,
        {"i": {"personId": pid, "idNumber": id_number("19751231")}},
        tenant=slug,
        token=token,
    )
    assert ok(body)["updateResident"]["birthDate"] == "1975-12-31"
    body = await api(UPDATE, {"i": {"personId": pid, "name": "张三丰"}}, tenant=slug, token=token)
    assert ok(body)["updateResident"]["birthDate"] == "1975-12-31"  # untouched
    body = await api(UPDATE, {"i": {"personId": pid, "birthDate": None}}, tenant=slug, token=token)
    assert ok(body)["updateResident"]["birthDate"] is None
    body = await api(
        UPDATE,
        {"i": {"personId": pid, "idNumber": id_number("19751231"), "birthDate": "1976-01-01"}},
        tenant=slug,
        token=token,
    )
    assert ok(body)["updateResident"]["birthDate"] == "1976-01-01"


async def test_impossible_dates_are_refused(api, runtime):
    world = await make_world(runtime, api)
    slug, token = world.tenant.slug, world.admin
    for fields, field in (
        ({"idNumber": id_number("19810229")}, "idNumber"),  # 1981 is not a leap year
        ({"idNumber": id_number("19801301")}, "idNumber"),  # month 13
        ({"idNumber": id_number("29991231")}, "idNumber"),  # the future
        ({"birthDate": "2999-01-01"}, "birthDate"),
    ):
        body = await api(CREATE, {"i": {"name": "李四", **fields}}, tenant=slug, token=token)
        assert failure(body) == ("VALIDATION_FAILED", field), fields
    assert await _people(runtime, world.tenant.schema) == 0

    pid = ok(
        await api(
            CREATE, {"i": {"name": "李四", "birthDate": "1990-05-06"}}, tenant=slug, token=token
        )
    )["createResident"]["person"]["id"]
    body = await api(
        UPDATE,
        {"i": {"personId": pid, "name": "李四四", "idNumber": id_number("19900231")}},
        tenant=slug,
        token=token,
    )
    assert failure(body) == ("VALIDATION_FAILED", "idNumber")
    async with runtime.db.tenant_session(world.tenant.schema) as s:
        person = await s.scalar(select(Person))
        assert person is not None
        assert (person.name, str(person.birth_date), person.id_number_enc) == (
            "李四",
            "1990-05-06",
            None,
        )
