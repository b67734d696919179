"""FireTwin spatial data core: settings, database, schema, H3 + grid indexing, import/export."""
