"""GraphQL toolkit (context, access, errors, pagination, limits, execution) and assembly.

Modules import the toolkit; only ``schema.py`` imports the module registry.
"""
