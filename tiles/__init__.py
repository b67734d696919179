"""Vector tiles (MVT) from PostGIS, TileJSON and the map style, built from the layer catalogue.

- ``settings``: ``MVTSettings`` (``FIRETWIN_TILES_*``).
- ``mvt``: ``build_tile_query`` and ``get_tile(conn, layer, z, x, y, *, scope, settings)``, the
  one ``ST_AsMVT`` path (also for the OGC API Tiles provider).
- ``cache``: the per-worker tile cache and the change feed that keeps it fresh (design there).
- ``service``: ``TileService``, rendering through the cache; one per API worker.
- ``tilejson``: TileJSON 3.0.0 documents and the MapLibre style.

The HTTP routes are in ``services/routers/tiles.py``.
"""
