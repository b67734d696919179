// The map: MapLibre GL JS (served from /static/vendor) drawing FireTwin's own style and vector
// tiles (/tiles/style.json → /tiles/all/{z}/{x}/{y}.mvt). No external basemap: regions, grids,
// roads and buildings (extruded by height) are the basemap. The token goes on every request to
// this server through transformRequest, so tiles show what the caller's role may see.

import * as maplibregl from '/static/vendor/maplibre-gl.mjs';
import { authHeaders, preloaded, sameOrigin } from './api.js';

export { maplibregl };

// Start the worker pool now, while the style and the catalogue are on their way: fetching and
// compiling the worker module is otherwise on the critical path of the first render.
maplibregl.prewarm();

/** Rewrite the style's absolute tile URLs onto this page's origin (proxies, localhost vs IP). */
function onThisOrigin(url) {
  return url.replace(/^https?:\/\/[^/]+/, location.origin);
}

export async function loadStyle() {
  const style = await preloaded('style', '/tiles/style.json');
  for (const source of Object.values(style.sources)) {
    if (source.tiles) source.tiles = source.tiles.map(onThisOrigin);
    if (source.url) source.url = onThisOrigin(source.url);
  }
  return style;
}

/** The view asked for in the query string (?lon=&lat=&zoom=&pitch=&bearing=), if any. */
function viewFromQuery() {
  const q = new URLSearchParams(location.search);
  const num = (k) => (q.has(k) && q.get(k) !== '' && Number.isFinite(+q.get(k)) ? +q.get(k) : null);
  return { lon: num('lon'), lat: num('lat'), zoom: num('zoom'), pitch: num('pitch'),
    bearing: num('bearing') };
}

/**
 * Create the map in `container` from a loaded style.
 * @returns {maplibregl.Map}
 */
export function createMap(container, style) {
  const v = viewFromQuery();
  const center = v.lon != null && v.lat != null ? [v.lon, v.lat] : style.center;
  const map = new maplibregl.Map({
    container,
    style,
    center,
    zoom: v.zoom ?? style.zoom,
    pitch: v.pitch ?? 40,
    bearing: v.bearing ?? 0,
    maxPitch: 70,
    attributionControl: { compact: true },
    transformRequest: (url) => (sameOrigin(url) ? { url, headers: authHeaders() } : { url }),
  });
  map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  return map;
}

/** Style layers drawn from FireTwin's vector source (the catalogue layers). */
export function catalogueLayerIds(map) {
  return map.getStyle().layers.filter((l) => l.source === 'firetwin').map((l) => l.id);
}

/** Add (or replace the data of) a GeoJSON source. */
export function setGeoJSON(map, id, data) {
  const src = map.getSource(id);
  if (src) src.setData(data);
  else map.addSource(id, { type: 'geojson', data });
}

export function removeLayers(map, ids) {
  for (const id of ids) if (map.getLayer(id)) map.removeLayer(id);
}

/** Fit the map to the coordinates of GeoJSON features (points and lines). */
export function fitFeatures(map, features, { padding = 60, maxZoom = 16 } = {}) {
  const bounds = new maplibregl.LngLatBounds();
  const add = (c) => {
    if (typeof c[0] === 'number') bounds.extend(c);
    else c.forEach(add);
  };
  for (const f of features) if (f.geometry) add(f.geometry.coordinates);
  if (!bounds.isEmpty()) map.fitBounds(bounds, { padding, maxZoom, duration: 600 });
}

/**
 * Resolve when the map is idle with at least one rendered feature of its catalogue layers;
 * records the time since navigation start as window.firetwin.firstRenderMs (bench/web.py).
 */
export function whenRendered(map) {
  return new Promise((resolve) => {
    const check = () => {
      const ms = performance.now(); // the idle itself, not the check below
      const layers = catalogueLayerIds(map).filter((id) => map.getLayer(id)
        && map.getLayoutProperty(id, 'visibility') !== 'none');
      const n = map.queryRenderedFeatures({ layers }).length;
      if (n > 0) {
        map.off('idle', check);
        resolve({ ms, features: n });
      }
    };
    map.on('idle', check);
  });
}
