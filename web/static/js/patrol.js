// The patroller's view (#patrol, made for a phone): today's routed patrol list
// (GET /api/patrols/today?start=LON,LAT) drawn on the map in visiting order, with a GPS check-in
// (POST /api/patrols/check-in) at each unit.

import { ApiError, api, escapeHtml, label, mmss, toast } from './api.js';
import { fitFeatures, removeLayers, setGeoJSON } from './map.js';

const LINES = 'ft-patrol';
const STOPS = 'ft-patrol-stops';
const GRID_KEY = 'firetwin.patrol.grid';

/** The device position, or null after `timeoutMs` (no GPS, refused, or headless). */
function devicePosition(timeoutMs = 4000) {
  return new Promise((resolve) => {
    if (!navigator.geolocation) { resolve(null); return; }
    const timer = setTimeout(() => resolve(null), timeoutMs + 500);
    navigator.geolocation.getCurrentPosition(
      (p) => { clearTimeout(timer); resolve([p.coords.longitude, p.coords.latitude]); },
      () => { clearTimeout(timer); resolve(null); },
      { enableHighAccuracy: true, timeout: timeoutMs, maximumAge: 30_000 },
    );
  });
}

function draw(map, plan) {
  const legs = plan.shifts.flatMap((shift, i) => shift
    .filter((leg) => leg.geometry)
    .map((leg) => ({ type: 'Feature', geometry: leg.geometry, properties: { shift: i, stop: leg.stop } })));
  const stops = plan.stops.map((s, i) => ({ type: 'Feature',
    geometry: { type: 'Point', coordinates: [s.lon, s.lat] },
    properties: { n: i + 1, kind: s.kind, stop: s.stop } }));
  setGeoJSON(map, LINES, { type: 'FeatureCollection', features: legs });
  setGeoJSON(map, STOPS, { type: 'FeatureCollection', features: stops });
  if (!map.getLayer(LINES)) {
    map.addLayer({ id: LINES, type: 'line', source: LINES, layout: { 'line-join': 'round' },
      paint: { 'line-color': ['match', ['get', 'shift'], 0, '#2171b5', 1, '#6a51a3', '#238b45'],
        'line-width': 4, 'line-dasharray': [2, 1] } });
    map.addLayer({ id: STOPS, type: 'circle', source: STOPS,
      paint: { 'circle-radius': 9, 'circle-color': ['match', ['get', 'kind'], 'hazard', '#d7191c',
        'sensor', '#984ea3', '#2171b5'], 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
  }
  if (stops.length) fitFeatures(map, [...stops, ...legs], { padding: 50 });
}

export function clearPatrol(map) {
  removeLayers(map, [LINES, STOPS]);
  for (const id of [LINES, STOPS]) if (map.getSource(id)) map.removeSource(id);
}

async function checkIn(ctx, stop, li) {
  const button = li.querySelector('button');
  button.disabled = true;
  const gps = await devicePosition();
  // Without a GPS fix the map centre stands for the position (pan the map to where you are);
  // the server flags a check-in far from the unit either way.
  const [lon, lat] = gps ?? ctx.map.getCenter().toArray();
  try {
    const r = await api('/api/patrols/check-in', { method: 'POST',
      json: { unit_id: stop.id, lon, lat, result: 'pass' } });
    li.classList.add('done');
    const far = r.location_flagged ? `，距单位 ${Math.round(r.distance_from_unit_m)} m（超过 ${r.max_distance_m} m，已标记）` : '';
    li.querySelector('.result').textContent = `已签到${gps ? '' : '（无定位，按地图中心）'}${far}`;
    button.textContent = '已签到';
    window.firetwin.patrol.checkIns.push(r);
  } catch (e) {
    button.disabled = false;
    toast(`签到失败：${e.message}`);
  }
}

function render(ctx, plan) {
  const list = document.getElementById('patrol-list');
  document.getElementById('patrol-summary').textContent =
    `${plan.date} · ${plan.totals.stops} 处 · ${mmss(plan.totals.travel_s)} · ${(plan.totals.distance_m / 1000).toFixed(1)} km`;
  const arrive = new Map(plan.shifts.flat().map((leg) => [leg.stop, leg.arrive_s]));
  list.innerHTML = plan.stops.length ? '' : '<li class="hint">今日没有到期的巡查点。</li>';
  plan.stops.forEach((s, i) => {
    const li = document.createElement('li');
    li.dataset.stop = s.stop;
    li.className = `stop kind-${s.kind}`;
    li.innerHTML = `<span class="n">${i + 1}</span>
      <div><b>${escapeHtml(s.name || s.code)}</b> <small>${escapeHtml(label(s.kind))} · ${escapeHtml(s.code ?? '')}</small><br>
      <small>${escapeHtml(s.reason ?? '')} · 预计 ${mmss(arrive.get(s.stop))} 到达</small>
      <div class="result"></div></div>
      ${s.kind === 'unit' ? '<button type="button" class="check-in primary">签到</button>' : ''}`;
    li.addEventListener('click', (e) => {
      if (e.target.closest('button')) return;
      ctx.map.flyTo({ center: [s.lon, s.lat], zoom: Math.max(ctx.map.getZoom(), 16) });
    });
    const button = li.querySelector('button');
    if (button) button.addEventListener('click', () => checkIn(ctx, s, li));
    list.appendChild(li);
  });
  for (const u of plan.unreachable) {
    const li = document.createElement('li');
    li.className = 'hint';
    li.textContent = `不可达：${u.stop}（${u.reason}）`;
    list.appendChild(li);
  }
}

/** Load and draw today's list; the start is the device position, else the map centre. */
export async function loadPatrol(ctx) {
  const note = document.getElementById('patrol-note');
  const gridLabel = document.getElementById('patrol-grid-label');
  const gridInput = document.getElementById('patrol-grid');
  window.firetwin.patrol = { plan: null, checkIns: [] };
  if (ctx.me.role === 'public') {
    note.textContent = '请以网格员或巡查员身份登录，查看今日巡查清单。';
    return null;
  }
  note.textContent = '正在规划路线…';
  const gps = await devicePosition(3000);
  const [lon, lat] = gps ?? ctx.map.getCenter().toArray();
  const grid = gridInput.value || sessionStorage.getItem(GRID_KEY) || '';
  const q = new URLSearchParams({ start: `${lon.toFixed(6)},${lat.toFixed(6)}` });
  if (grid) q.set('grid', grid);
  try {
    const plan = await api(`/api/patrols/today?${q}`);
    if (grid) sessionStorage.setItem(GRID_KEY, grid);
    note.textContent = gps ? '起点：当前位置' : '起点：地图中心（未获取到定位）';
    render(ctx, plan);
    draw(ctx.map, plan);
    window.firetwin.patrol.plan = plan;
    return plan;
  } catch (e) {
    if (e instanceof ApiError && e.status === 400 && /grid=/.test(e.message)) {
      gridLabel.hidden = false; // district-wide roles choose a grid
      note.textContent = '请输入网格编号后刷新。';
    } else {
      note.textContent = e.message;
    }
    return null;
  }
}

export function setupPatrol(ctx) {
  document.getElementById('patrol-refresh').addEventListener('click', () => loadPatrol(ctx));
}
