"""Routing errors. They subclass builtins (as osmnx does) and know nothing of HTTP.

``services/errors.py`` maps them to statuses: a point off the network or a destination out of
reach is the caller's problem (422); a graph that breaks the contract is ours (500).
"""

from __future__ import annotations

__all__ = ["GraphContractError", "RoutingError", "SnapError", "UnreachableError"]


class RoutingError(ValueError):
    """Base class of routing errors."""


class UnreachableError(RoutingError):
    """No route exists under the given weight (closed, one-way or impassable roads)."""


class SnapError(RoutingError):
    """A point could not be placed on a passable road within the search distance."""


class GraphContractError(RoutingError):
    """A graph or edge table does not follow the contract of `routing.graph`."""
