async def test_login_and_me(api, tenant, admin_token):
    body = await api(
        "{ me { name kind roles { key } } tenant { slug } }", tenant=tenant.slug, token=admin_token
    )
    assert body["data"]["me"]["roles"] == [{"key": "tenant_admin"}]
    assert body["data"]["tenant"]["slug"] == tenant.slug
