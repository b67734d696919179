"""The governance hierarchy: district → 11 streets + 2 towns → communities/villages → grids.

Polygons are drawn in local metres. The urban area (about 75 km², north-east of the district
centre) is split into the 11 streets, the countryside into the 2 towns. Each level is the
Voronoi split of its parent by weighted k-means seeds, so children tile their parent exactly
(shared edges, union = parent) and, with population weights, urban communities and grids hold
about the same number of people: ~6,800 per community, ~880 per grid (470,500 residents and
531 grid workers, seed 001).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from gis.demo.context import District
from gis.demo.geo import area_km2, frame, random_points, voronoi_split
from gis.demo.layout import _blob
from gis.demo.names import community_names, district_names
from gis.demo.rand import kmeans_seeds

URBAN_AREA_M2 = 75e6
URBAN_POPULATION = 430_000
PEOPLE_PER_COMMUNITY = 6_800
PEOPLE_PER_GRID = 880
KM2_PER_VILLAGE = 24.0
CORE_DECAY_M = 2_800.0
# Polygons are densified before conversion to EPSG:4326, so that neighbours whose shared edge
# carries different vertices still meet exactly once projected (straight lines in metres are
# not straight in degrees; at 50 m the difference is far below a millimetre).
SEGMENT_M = 50.0


@dataclass
class Regions:
    """Region and grid polygons of a district (metres) with their frames (EPSG:4326)."""

    district: BaseGeometry
    urban: BaseGeometry
    city_centre: tuple[float, float]
    streets: list[BaseGeometry]
    communities: list[BaseGeometry]
    community_street: np.ndarray  # index into streets
    community_is_village: np.ndarray
    community_population: np.ndarray
    village_centre: np.ndarray  # (n_communities, 2), NaN for urban communities
    village_is_seat: np.ndarray
    grids: list[BaseGeometry]
    grid_community: np.ndarray
    region_frame: gpd.GeoDataFrame
    grid_frame: gpd.GeoDataFrame
    street_names: list[str]
    community_names: list[str]
    street_ids: np.ndarray
    community_ids: np.ndarray
    grid_ids: np.ndarray

    def urban_density(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Relative population density of the city (1 at the centre, 0 outside the city)."""
        d = np.hypot(np.asarray(x) - self.city_centre[0], np.asarray(y) - self.city_centre[1])
        rho = np.exp(-d / CORE_DECAY_M)
        return np.where(shapely.contains_xy(self.urban, x, y), rho, 0.0)

    def village_density(self, x: np.ndarray, y: np.ndarray, sigma: float = 350.0) -> np.ndarray:
        """Relative density of village settlements (bumps around village centres)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        out = np.zeros(len(x))
        for (cx, cy), pop in zip(self.village_centre, self.community_population, strict=True):
            if np.isnan(cx):
                continue
            s = sigma * np.sqrt(pop / 2_500)
            out += (pop / 2_500) * 0.25 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
        return out

    def density(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Relative density of people and buildings anywhere in the district."""
        return self.urban_density(x, y) + self.village_density(x, y)


def _urban_area(d: District, district: BaseGeometry) -> BaseGeometry:
    rng = d.rng("urban-area")
    _, _, maxx, maxy = district.bounds
    c = district.centroid
    ox = c.x + 0.22 * (maxx - c.x)
    oy = c.y + 0.18 * (maxy - c.y)
    blob = _blob(rng, URBAN_AREA_M2, stretch=1.12)
    blob = shapely.affinity.translate(blob, ox, oy)
    inner = district.buffer(-1_500)
    urban = blob.intersection(inner)
    if urban.geom_type != "Polygon":
        urban = max(urban.geoms, key=lambda g: g.area)
    return urban


def _split(
    rng: np.random.Generator, parent: BaseGeometry, k: int, weight_fn=None
) -> tuple[list[BaseGeometry], np.ndarray]:
    """Split ``parent`` into ``k`` cells; return non-empty cells and their seed points."""
    if k <= 1:
        c = parent.representative_point()
        return [parent], np.array([[c.x, c.y]])
    m = int(min(4_000, max(400, 90 * k)))
    x, y = random_points(rng, parent, m)
    w = None if weight_fn is None else np.maximum(weight_fn(x, y), 1e-6)
    seeds = kmeans_seeds(rng, x, y, k, weights=w)
    cells = voronoi_split(parent, seeds)
    keep = [i for i, c in enumerate(cells) if c is not None and c.area > 1.0]
    return [cells[i] for i in keep], seeds[keep]


def _population(
    poly: BaseGeometry, sx: np.ndarray, sy: np.ndarray, sw: np.ndarray, total: float
) -> float:
    ok = shapely.contains_xy(poly, sx, sy)
    return float(sw[ok].sum() / max(sw.sum(), 1e-9) * total)


def _village_centre(rng: np.random.Generator, poly: BaseGeometry) -> tuple[float, float]:
    x, y = random_points(rng, poly, 200)
    boundary = poly.boundary
    dist = shapely.distance(shapely.points(x, y), boundary)
    score = dist * rng.uniform(0.7, 1.0, len(x))
    i = int(np.argmax(score))
    return float(x[i]), float(y[i])


def build_regions(d: District, district_poly: Polygon) -> Regions:
    """Streets, towns, communities, villages and ordinary grids of district ``d``."""
    rng = d.rng("regions")
    name, short, street_names, town_names = district_names(d.rng("names"), d.index, d.world.names)
    d.name, d.short = name, short
    urban = _urban_area(d, district_poly)
    uc = urban.centroid
    centre = (uc.x + rng.uniform(-600, 600), uc.y + rng.uniform(-600, 600))

    def rho(x, y):
        return np.exp(-np.hypot(x - centre[0], y - centre[1]) / CORE_DECAY_M)

    # Monte-Carlo sample of the urban population field.
    sx, sy = random_points(rng, urban, 30_000)
    sw = rho(sx, sy)

    streets, _ = _split(rng, urban, len(street_names), lambda x, y: rho(x, y) ** 0.5)
    rural = district_poly.difference(urban)
    towns, _ = _split(rng, rural, len(town_names))
    all_streets = streets + towns
    names_all = street_names[: len(streets)] + town_names[: len(towns)]

    taken: set[str] = set()
    comms: list[BaseGeometry] = []
    comm_street: list[int] = []
    comm_village: list[bool] = []
    comm_pop: list[float] = []
    for si, poly in enumerate(all_streets):
        village = si >= len(streets)
        if village:
            k = max(3, round(area_km2_local(poly) / KM2_PER_VILLAGE))
            cells, _ = _split(rng, poly, k)
            pops = rng.uniform(1_200, 3_600, len(cells))
        else:
            pop = _population(poly, sx, sy, sw, URBAN_POPULATION)
            k = max(3, round(pop / PEOPLE_PER_COMMUNITY))
            cells, _ = _split(rng, poly, k, rho)
            pops = np.array([_population(c, sx, sy, sw, URBAN_POPULATION) for c in cells])
        comms.extend(cells)
        comm_street.extend([si] * len(cells))
        comm_village.extend([village] * len(cells))
        comm_pop.extend(pops.tolist())
    comm_street_a = np.array(comm_street)
    comm_village_a = np.array(comm_village)
    comm_pop_a = np.array(comm_pop)

    # Village centres; the most populous village of each town becomes its seat.
    vc = np.full((len(comms), 2), np.nan)
    seat = np.zeros(len(comms), dtype=bool)
    for i in np.flatnonzero(comm_village_a):
        vc[i] = _village_centre(rng, comms[i])
    for si in range(len(streets), len(all_streets)):
        members = np.flatnonzero(comm_street_a == si)
        if len(members):
            best = members[np.argmax(comm_pop_a[members])]
            seat[best] = True
            comm_pop_a[best] = rng.uniform(6_000, 9_000)

    grids: list[BaseGeometry] = []
    grid_comm: list[int] = []
    for ci, poly in enumerate(comms):
        k = max(1 if comm_village_a[ci] else 2, round(comm_pop_a[ci] / PEOPLE_PER_GRID))
        cells, _ = _split(rng, poly, k, None if comm_village_a[ci] else rho)
        grids.extend(cells)
        grid_comm.extend([ci] * len(cells))
    grid_comm_a = np.array(grid_comm)

    cnames = []
    for ci in range(len(comms)):
        cnames.append(community_names(rng, 1, village=bool(comm_village_a[ci]), taken=taken)[0])

    ids = d.world.ids
    district_id = int(ids.take("region", 1)[0])
    street_ids = ids.take("region", len(all_streets))
    comm_ids = ids.take("region", len(comms))
    grid_ids = ids.take("grid", len(grids))

    street_codes = [f"{d.code}{i + 1:03d}" for i in range(len(all_streets))]
    comm_codes: list[str] = []
    per_street = np.zeros(len(all_streets), dtype=int)
    for si in comm_street_a:
        per_street[si] += 1
        comm_codes.append(f"{street_codes[si]}{per_street[si]:03d}")
    street_pop = np.bincount(comm_street_a, weights=comm_pop_a, minlength=len(all_streets))

    region_geoms = [district_poly, *all_streets, *comms]
    region_frame = frame(
        {
            "id": np.concatenate([[district_id], street_ids, comm_ids]),
            "code": [d.code, *street_codes, *comm_codes],
            "name": [name, *names_all, *cnames],
            "level": ["district"] + ["street"] * len(all_streets) + ["community"] * len(comms),
            "parent_id": np.concatenate(
                [[-1], np.full(len(all_streets), district_id), street_ids[comm_street_a]]
            ),
            "population": np.round(
                np.concatenate([[comm_pop_a.sum()], street_pop, comm_pop_a])
            ).astype(np.int64),
        },
        shapely.segmentize(np.array(region_geoms, dtype=object), SEGMENT_M),
    )
    region_frame["parent_id"] = (
        region_frame["parent_id"].astype("Int64").where(region_frame["parent_id"] >= 0)
    )
    region_frame["area_km2"] = np.round(area_km2(region_frame.geometry.values), 4)

    grid_codes: list[str] = []
    grid_names: list[str] = []
    per_comm = np.zeros(len(comms), dtype=int)
    per_street_g = np.zeros(len(all_streets), dtype=int)
    for ci in grid_comm_a:
        per_comm[ci] += 1
        si = comm_street_a[ci]
        per_street_g[si] += 1
        grid_codes.append(f"{comm_codes[ci]}{per_comm[ci]:03d}")
        grid_names.append(f"{names_all[si]}-{per_street_g[si]}号网格")
    grid_frame = frame(
        {
            "id": grid_ids,
            "code": grid_codes,
            "name": grid_names,
            "kind": "ordinary",
            "community_id": comm_ids[grid_comm_a],
            "street_id": street_ids[comm_street_a[grid_comm_a]],
        },
        shapely.segmentize(np.array(grids, dtype=object), SEGMENT_M),
    )
    return Regions(
        district=district_poly,
        urban=urban,
        city_centre=centre,
        streets=all_streets,
        communities=comms,
        community_street=comm_street_a,
        community_is_village=comm_village_a,
        community_population=comm_pop_a,
        village_centre=vc,
        village_is_seat=seat,
        grids=grids,
        grid_community=grid_comm_a,
        region_frame=region_frame,
        grid_frame=grid_frame,
        street_names=names_all,
        community_names=cnames,
        street_ids=street_ids,
        community_ids=comm_ids,
        grid_ids=grid_ids,
    )


def area_km2_local(poly: BaseGeometry) -> float:
    """Area in km² measured in the local metric frame."""
    return poly.area / 1e6


def locate(polys: list[BaseGeometry], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the polygon containing each point (lowest index on shared edges), -1 if none."""
    tree = shapely.STRtree(np.array(polys, dtype=object))
    pi, gi = tree.query(shapely.points(x, y), predicate="intersects")
    out = np.full(len(x), -1, dtype=np.int64)
    if len(pi):
        order = np.lexsort((gi, pi))
        pi, gi = pi[order], gi[order]
        first = np.ones(len(pi), dtype=bool)
        first[1:] = pi[1:] != pi[:-1]
        out[pi[first]] = gi[first]
    return out
