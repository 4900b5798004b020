"""Helpers for the yellow-pages and knowledge-base tests: a tenant with the notices module,
communities, staff and residents written straight into the tenant schema, GraphQL
documents, and small assertions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from conftest import TEST_PASSWORD, Api, TenantFixture, login, make_tenant, new_phone, signed_in
from sqlalchemy import func, select

from wuye.graphql.ids import encode_id
from wuye.identity import service as identity
from wuye.modules.estate.models import Building, Community, Occupancy, Person, Unit
from wuye.runtime import Runtime

CATEGORY_FIELDS = "id name nameZh nameEn sort"
ENTRY_FIELDS = """id categoryId communityId name phones { number telUri } hours address notes
  sort active"""
CREATE_CATEGORY = f"""mutation($i: CreateYellowPageCategoryInput!) {{
  createYellowPageCategory(input: $i) {{ {CATEGORY_FIELDS} }} }}"""
UPDATE_CATEGORY = f"""mutation($i: UpdateYellowPageCategoryInput!) {{
  updateYellowPageCategory(input: $i) {{ {CATEGORY_FIELDS} }} }}"""
DELETE_CATEGORY = """mutation($i: YellowPageIdInput!) { deleteYellowPageCategory(input: $i) }"""
CATEGORIES = f"{{ yellowPageCategories {{ {CATEGORY_FIELDS} }} }}"
CREATE_ENTRY = f"""mutation($i: CreateYellowPageEntryInput!) {{
  createYellowPageEntry(input: $i) {{ {ENTRY_FIELDS} }} }}"""
UPDATE_ENTRY = f"""mutation($i: UpdateYellowPageEntryInput!) {{
  updateYellowPageEntry(input: $i) {{ {ENTRY_FIELDS} }} }}"""
DELETE_ENTRY = """mutation($i: YellowPageIdInput!) { deleteYellowPageEntry(input: $i) }"""
ENTRY = f"query($id: ID!) {{ yellowPageEntry(id: $id) {{ {ENTRY_FIELDS} }} }}"
ENTRIES = f"""query($c: ID, $cat: ID, $s: String) {{
  yellowPageEntries(communityId: $c, categoryId: $cat, search: $s) {{
    totalCount edges {{ node {{ {ENTRY_FIELDS} }} }} }} }}"""
YELLOW_PAGES = f"""query($c: ID) {{ yellowPages(communityId: $c) {{
  category {{ {CATEGORY_FIELDS} }} entries {{ {ENTRY_FIELDS} }} }} }}"""

ARTICLE_FIELDS = """id category communityId title bodyFormat bodySource bodyHtml summary status
  publishedAt"""
CREATE_ARTICLE = f"""mutation($i: CreateKbArticleInput!) {{
  createKbArticle(input: $i) {{ {ARTICLE_FIELDS} }} }}"""
UPDATE_ARTICLE = f"""mutation($i: UpdateKbArticleInput!) {{
  updateKbArticle(input: $i) {{ {ARTICLE_FIELDS} }} }}"""
PUBLISH = f"""mutation($i: KbArticleIdInput!) {{
  publishKbArticle(input: $i) {{ {ARTICLE_FIELDS} }} }}"""
UNPUBLISH = f"""mutation($i: KbArticleIdInput!) {{
  unpublishKbArticle(input: $i) {{ {ARTICLE_FIELDS} }} }}"""
DELETE_ARTICLE = "mutation($i: KbArticleIdInput!) { deleteKbArticle(input: $i) }"
ARTICLE = f"query($id: ID!) {{ kbArticle(id: $id) {{ {ARTICLE_FIELDS} }} }}"
ARTICLES = f"""query($first: Int, $after: String, $cat: String, $c: ID, $status: String,
  $s: String) {{
  kbArticles(first: $first, after: $after, category: $cat, communityId: $c, status: $status,
    search: $s) {{ totalCount pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{ {ARTICLE_FIELDS} }} }} }} }}"""


def failure(body: dict[str, Any]) -> tuple[str, str | None]:
    """(code, field) of the one error of a response."""
    assert len(body.get("errors", [])) == 1, body
    ext = body["errors"][0].get("extensions", {})
    return ext.get("code"), ext.get("field")


def gid(type_name: str, pk: int) -> str:
    return encode_id(type_name, pk)


@dataclass
class Caller:
    """One tenant seen by one signed-in account."""

    api: Api
    tenant: TenantFixture
    token: str
    user_id: int = 0

    async def raw(self, q: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.api(q, variables, tenant=self.tenant.slug, token=self.token)

    async def ok(self, q: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.raw(q, variables)
        assert "errors" not in body, body
        return body["data"]

    async def fails(self, q: str, variables: dict[str, Any] | None = None) -> tuple[str, Any]:
        return failure(await self.raw(q, variables))

    async def category(self, name_zh: str | None = None, sort: int = 0) -> str:
        i = {"nameZh": name_zh or f"分类{secrets.token_hex(3)}", "nameEn": "Cat", "sort": sort}
        return (await self.ok(CREATE_CATEGORY, {"i": i}))["createYellowPageCategory"]["id"]

    async def entry(
        self,
        category_id: str,
        community: int | None = None,
        *,
        name: str | None = None,
        phones: tuple[str, ...] = ("0571-88886666",),
        **extra: Any,
    ) -> dict[str, Any]:
        i = {
            "categoryId": category_id,
            "communityId": gid("Community", community) if community is not None else None,
            "name": name or f"条目{secrets.token_hex(3)}",
            "phones": list(phones),
            **extra,
        }
        return (await self.ok(CREATE_ENTRY, {"i": i}))["createYellowPageEntry"]

    async def article(
        self,
        title: str,
        body: str = "正文",
        *,
        category: str = "faq",
        community: int | None = None,
        publish: bool = True,
        body_format: str = "markdown",
    ) -> dict[str, Any]:
        i = {
            "category": category,
            "communityId": gid("Community", community) if community is not None else None,
            "title": title,
            "body": body,
            "bodyFormat": body_format,
            "publish": publish,
        }
        return (await self.ok(CREATE_ARTICLE, {"i": i}))["createKbArticle"]


@dataclass
class Site:
    """A tenant with the notices module, its admin and communities by name."""

    runtime: Runtime
    api: Api
    tenant: TenantFixture
    admin: Caller
    communities: dict[str, int] = field(default_factory=dict)

    async def community(self, name: str) -> int:
        async with self.runtime.db.tenant_session(self.tenant.schema) as s:
            c = Community(name=f"{name}-{secrets.token_hex(2)}")
            s.add(c)
            await s.flush()
            await s.commit()
        self.communities[name] = c.id
        return c.id

    async def staff(
        self,
        *,
        roles: tuple[str, ...] = ("manager",),
        all_communities: bool = False,
        communities: tuple[int, ...] = (),
    ) -> Caller:
        account = await signed_in(
            self.api,
            self.runtime,
            self.tenant,
            roles=roles,
            all_communities=all_communities,
            communities=communities,
        )
        return Caller(self.api, self.tenant, account.token, account.user_id)

    async def resident(self, *community_ids: int) -> Caller:
        """A resident account living in one unit of each of ``community_ids``."""
        async with self.runtime.db.tenant_session(self.tenant.schema) as s:
            phone = new_phone()
            user = await identity.create_user(
                s,
                kind="resident",
                name="业主",
                phone=phone,
                password_hash=self.runtime.passwords.hash(TEST_PASSWORD),
            )
            person = Person(user_id=user.id, name="业主", phone=phone, phone_last4=phone[-4:])
            s.add(person)
            await s.flush()
            for cid in community_ids:
                b = Building(community_id=cid, name=f"楼{secrets.token_hex(2)}", floors=10)
                s.add(b)
                await s.flush()
                u = Unit(
                    community_id=cid,
                    building_id=b.id,
                    floor=1,
                    room_no="101",
                    building_area=Decimal("90"),
                )
                s.add(u)
                await s.flush()
                s.add(
                    Occupancy(community_id=cid, unit_id=u.id, person_id=person.id, relation="owner")
                )
            user_id = user.id
            await s.commit()
        token = (await login(self.api, self.tenant.slug, phone))["accessToken"]
        return Caller(self.api, self.tenant, token, user_id)

    async def count(self, model: Any) -> int:
        async with self.runtime.db.tenant_session(self.tenant.schema) as s:
            return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def make_site(runtime: Runtime, api: Api, *, modules: tuple[str, ...] = ("notices",)) -> Site:
    tenant = await make_tenant(runtime, modules=modules)
    token = (await login(api, tenant.slug, tenant.admin_phone))["accessToken"]
    return Site(runtime, api, tenant, Caller(api, tenant, token, tenant.admin_id))
