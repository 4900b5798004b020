"""GraphQL toolkit (context, access, errors, pagination, limits, execution) and assembly.

Modules import the toolkit; ``schema.py`` assembles the schemas from the module list.
"""
