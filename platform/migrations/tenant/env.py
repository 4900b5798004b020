"""Alembic environment for one tenant schema. ``wuye migrate`` runs it once per tenant.

The caller passes an open connection (in its own transaction) and the schema; the
version table lives in the tenant schema, and the search path is set LOCAL so every
unqualified name in a migration lands in that tenant.
"""

from alembic import context

from wuye.db import SHARED_SCHEMA, validate_schema_name
from wuye.models import load_all

_, tenant_base = load_all()
connection = context.config.attributes["connection"]
schema = validate_schema_name(context.config.attributes["schema"])
connection.exec_driver_sql(
    "SELECT set_config('search_path', %s, true)", (f"{schema}, {SHARED_SCHEMA}",)
)
context.configure(
    connection=connection,
    target_metadata=tenant_base.metadata,
    version_table_schema=schema,
    # The version table sits in the tenant schema, outside the metadata: never "drop" it.
    include_name=lambda name, type_, parent: not (type_ == "table" and name == "alembic_version"),
)
with context.begin_transaction():
    context.run_migrations()
