// Nearest stations to a point (GET /api/routing/nearest-stations): draws each station's truck
// route on the map and lists its ETA (turnout + travel) against the 5-minute standard.

import { api, escapeHtml, label, mmss } from './api.js';
import { fitFeatures, removeLayers, setGeoJSON } from './map.js';

const SOURCE = 'ft-routes';
const TARGET = 'ft-route-target';
export const ROUTE_LAYERS = ['ft-routes-casing', 'ft-routes', 'ft-route-target'];
const RANK_COLOUR = ['match', ['get', 'rank'], 0, '#d7191c', 1, '#fd8d3c', 2, '#41ab5d', '#6a51a3'];

function drawRoutes(map, features, lon, lat) {
  setGeoJSON(map, SOURCE, { type: 'FeatureCollection', features });
  setGeoJSON(map, TARGET, { type: 'FeatureCollection', features: [
    { type: 'Feature', geometry: { type: 'Point', coordinates: [lon, lat] }, properties: {} }] });
  if (!map.getLayer('ft-routes')) {
    map.addLayer({ id: 'ft-routes-casing', type: 'line', source: SOURCE,
      layout: { 'line-join': 'round', 'line-cap': 'round' },
      paint: { 'line-color': '#ffffff', 'line-width': 9, 'line-opacity': 0.9 } });
    map.addLayer({ id: 'ft-routes', type: 'line', source: SOURCE,
      layout: { 'line-join': 'round', 'line-cap': 'round' },
      paint: { 'line-color': RANK_COLOUR, 'line-width': 5 } });
    map.addLayer({ id: TARGET, type: 'circle', source: TARGET,
      paint: { 'circle-radius': 8, 'circle-color': '#d7191c', 'circle-stroke-color': '#fff',
        'circle-stroke-width': 3 } });
  }
}

export function clearRoutes(map) {
  removeLayers(map, ROUTE_LAYERS);
  for (const id of [SOURCE, TARGET]) if (map.getSource(id)) map.removeSource(id);
}

/**
 * Ask for the k nearest stations by truck ETA to (lon, lat), draw their routes, list them.
 * @returns {Promise<object>} the API answer
 */
export async function showNearestStations(map, lon, lat, { k = 3 } = {}) {
  const box = document.getElementById('routes');
  const list = document.getElementById('route-list');
  box.hidden = false;
  list.innerHTML = '<li class="hint">计算中…</li>';
  let body;
  try {
    body = await api(`/api/routing/nearest-stations?lon=${lon.toFixed(6)}&lat=${lat.toFixed(6)}&k=${k}`);
  } catch (e) {
    list.innerHTML = `<li class="error">${escapeHtml(e.message)}</li>`;
    throw e;
  }
  const features = body.stations
    .map((s, rank) => ({ type: 'Feature', geometry: s.geometry,
      properties: { rank, station_id: s.station_id, name: s.name, eta_s: s.eta_s,
        meets_5min: s.meets_5min } }))
    .filter((f) => f.geometry);
  drawRoutes(map, features, lon, lat);
  list.innerHTML = body.stations.length ? '' : '<li class="hint">没有可达的消防站</li>';
  body.stations.forEach((s, rank) => {
    const li = document.createElement('li');
    li.className = `rank-${rank}`;
    const ok = s.meets_5min ? '<b class="ok">✓ 5 分钟内</b>' : '<b class="late">✗ 超过 5 分钟</b>';
    li.innerHTML = `<span class="name">${escapeHtml(s.name)}</span>
      <small>${escapeHtml(label(s.kind))}</small><br>
      ETA <b data-eta="${s.eta_s ?? ''}">${mmss(s.eta_s)}</b>
      （行车 ${mmss(s.travel_time_s)}，${s.distance_m == null ? '—' : (s.distance_m / 1000).toFixed(2)} km） ${ok}`;
    list.appendChild(li);
  });
  if (features.length) fitFeatures(map, features, { padding: 80 });
  window.firetwin.routes = body;
  return body;
}
