"""Per-tenant feature modules. ``registry.MODULES`` lists them explicitly."""
