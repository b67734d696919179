"""The demo's ground truth record: what was generated, from which seed and scale.

``demo_truth`` is never read by the risk model; tests and evaluations compare against it.
The per-unit fire propensity is written with each district (``gis.demo.load``).
"""

from __future__ import annotations

import json

import psycopg


def record_generation(
    conn: psycopg.Connection, *, seed: int, scale: float, counts: dict[str, int]
) -> None:
    """Store (replace) the single generation row: seed, scale and row counts."""
    conn.execute(
        "INSERT INTO demo_truth.generation (id, seed, scale, counts) VALUES (1, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET seed = EXCLUDED.seed, scale = EXCLUDED.scale, "
        "counts = EXCLUDED.counts, generated_at = now()",
        (seed, scale, json.dumps(counts)),
    )


def read_generation(conn: psycopg.Connection) -> dict | None:
    """The generation row as a dict, or None when no demo data was generated."""
    row = conn.execute(
        "SELECT seed, scale, generated_at, counts FROM demo_truth.generation WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    return {"seed": row[0], "scale": row[1], "generated_at": row[2], "counts": row[3]}
