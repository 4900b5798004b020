"""Alembic environments: ``shared`` (platform registry) and ``tenant`` (each tenant schema)."""
