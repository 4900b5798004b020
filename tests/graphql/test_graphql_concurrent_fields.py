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
