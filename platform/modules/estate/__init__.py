"""Estate and people: communities, buildings, units, parking, residents, staff organisation."""
