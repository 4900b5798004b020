"""Root query fields resolve concurrently (graphql-core gathers them): they share the
request's principal and session safely."""

from __future__ import annotations

QUERY = """{
  me { name roles { key } }
  roles { key }
  users(first: 5) { totalCount edges { node { name roles { key } } } }
  permissions { key }
  auditLog(first: 1) { totalCount }
}"""


async def test_several_root_fields_in_one_query(api, tenant, admin_token):
    # given a signed-in admin, when one query asks five root fields that all need the
    # principal and the database, then every field answers
    for _ in range(3):
        body = await api(QUERY, tenant=tenant.slug, token=admin_token)
        assert "errors" not in body, body
        assert body["data"]["me"]["roles"] == [{"key": "tenant_admin"}]
        assert body["data"]["users"]["totalCount"] >= 1


async def test_sibling_fields_read_the_data_scope_once(api, runtime, tenant, admin_token):
    """Given a staff member limited to some communities, when one query asks several
    data-scoped lists at once, then their scope is read from the database once."""
    from conftest import count_statements

    from wuye.identity.models import User

    async with runtime.db.tenant_session(tenant.schema) as s:
        admin = await s.get(User, tenant.admin_id)
        admin.all_communities = False
        await s.commit()
    query = "{ communities { totalCount } buildings { totalCount } parkingLots { totalCount } }"
    with count_statements(runtime) as seen:
        body = await api(query, tenant=tenant.slug, token=admin_token)
    assert "errors" not in body, body
    assert sum("user_community_scopes" in s for s in seen) == 1
