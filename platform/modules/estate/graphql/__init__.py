"""The estate API, split by area: property, residents, org, transfer (import/export)."""
