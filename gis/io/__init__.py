"""Importers behind ``firetwin import …``: OSM PBF, GeoJSON/GeoPackage, CSV.

Each importer is a plain function taking a psycopg (sync) connection first, then keyword-only
options and an optional ``progress(step, done, total)`` callback (steps ``reading <file>``,
``loading <table>``, ``indexing <table>``); it returns an ``ImportReport`` (rows loaded per
table, rows rejected with reasons, dropped columns, notes, timings). Rows go through
``gis.io.load.TableLoader`` and ``gis.bulk.copy_frame``, so every feature gets its H3 cells and
grid id on the way in; large loads drop and rebuild the table's secondary indexes (see
``gis.io.load``).

Bad-input policy
----------------
*Whole-input problems* — a missing or unreadable file, an unknown table or layer, a file
without a CRS (unless ``assume_crs=`` is given) or with one that cannot be reprojected,
source columns the table does not have (unless mapped with ``columns=`` or dropped with
``ignore_extra=True``), required (NOT NULL, no default) table columns that no source column
feeds — raise ``InvalidInputError`` before anything is written.

*Row problems* — missing, empty or invalid geometry; a geometry type the table cannot hold;
coordinates outside longitude −180…180 / latitude −90…90 after reprojection to EPSG:4326;
a required value missing; a value not of the column's type or longer than the column allows;
a value outside the vocabulary of the column's CHECK constraint (checked in Python against
``gis.vocab`` so the message lists the allowed values); a unique value repeated in the input
or already in the table; a foreign key pointing nowhere; the table's other row CHECKs.

- **Default: one transaction.** The whole import (every table it writes) runs inside
  ``conn.transaction()``; the first chunk holding a bad row raises ``ImportRejectedError``
  (an ``InvalidInputError``) naming the row — its index in the source, its line for CSV, and
  its ``code``/``id`` when it has one — and the problem, and nothing at all is stored.
- **``skip_invalid=True``**: bad rows are left out and listed in ``report.rejected`` with
  their reasons; the rest is loaded.

Errors that only the database can detect (none are expected after the checks above) still
abort the import with an ``InvalidInputError`` naming the row, even with ``skip_invalid``.
For OSM data, polygons that are invalid as mapped (self-intersecting rings are common) are
repaired with ``make_valid`` and counted in ``report.repaired``; those that collapse (fewer
than three distinct corners, often clipped at the extract's edge) cannot be repaired and are
left out and listed in ``report.rejected`` whatever ``skip_invalid`` says — third-party data
the user cannot fix should not block the import.

The transaction is the caller's: an import on a connection with a transaction open runs in a
savepoint and commits with the caller; on an idle or autocommit connection it commits itself.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from gis.io.report import ImportRejectedError, ImportReport, Rejection

if TYPE_CHECKING:
    from gis.io.csv import import_csv
    from gis.io.osm import import_osm
    from gis.io.vector import import_vector

# The importers load on first use, so `import_vector` does not pay for pyrosm, for instance.
_LAZY = {"import_csv": "gis.io.csv", "import_osm": "gis.io.osm", "import_vector": "gis.io.vector"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    msg = f"module 'gis.io' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "ImportRejectedError",
    "ImportReport",
    "Rejection",
    "import_csv",
    "import_osm",
    "import_vector",
]
