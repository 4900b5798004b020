"""Tenancy: the shared registry, host -> tenant resolution, provisioning and migrations."""
