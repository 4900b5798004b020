"""Identity and access: users, operators, tokens, roles, permissions, data scopes, audit."""
