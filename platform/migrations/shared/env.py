"""Alembic environment for schema ``shared``. Run through ``wuye migrate``."""

from alembic import context

from wuye.db import SHARED_SCHEMA
from wuye.models import load_all

shared_base, _ = load_all()
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=shared_base.metadata,
    version_table_schema=SHARED_SCHEMA,
    include_schemas=True,
    include_name=lambda name, type_, parent: type_ != "schema" or name == SHARED_SCHEMA,
)
with context.begin_transaction():
    context.run_migrations()
