"""The in-memory road graph of one API worker, kept in step with the database.

The graph is built from ``road_edge`` at first use and rebuilt whenever
``firetwin.network_state.version`` changes (any insert, update or delete of road edges), so
every worker converges on the same network after a change. Blockages reported as open
"fire lane blocked" hazards do not rebuild the graph: they are read per request and closed
through the weight function, and reopen as soon as the hazard closes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import networkx as nx
from psycopg import AsyncConnection

from gis.queries import roads
from routing import SnapIndex, build_graph
from services.errors import ServiceUnavailable


@dataclass(frozen=True)
class RoadNetwork:
    """A built graph, its snapping index and the version it was built from."""

    graph: nx.MultiDiGraph
    index: SnapIndex | None
    version: int


class RoadGraphState:
    """Holds the current RoadNetwork; ``current(conn)`` refreshes it when needed."""

    def __init__(self) -> None:
        self._network: RoadNetwork | None = None
        self._lock = asyncio.Lock()

    async def current(self, conn: AsyncConnection) -> RoadNetwork:
        version = await roads.network_version(conn)
        net = self._network
        if net is not None and net.version == version:
            return net
        async with self._lock:
            net = self._network
            if net is not None and net.version == version:
                return net
            edges = await roads.road_edges(conn)
            if edges.empty:
                msg = "the road network is empty: import roads or load the demo district"
                raise ServiceUnavailable(msg)
            net = await asyncio.to_thread(_build, edges, version)
            self._network = net
            return net


def _build(edges, version: int) -> RoadNetwork:
    G = build_graph(edges)
    return RoadNetwork(graph=G, index=SnapIndex(G), version=version)
