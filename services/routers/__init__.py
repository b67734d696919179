"""HTTP routers: thin, one call into gis.queries or services.workflows each."""
