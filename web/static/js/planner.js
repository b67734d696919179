// The planner's view (#planner): hot spots and clusters by grid, and what-if 5-minute coverage.
//
// Hot spots and clusters are the catalogue layers `hotspots` (Gi* per H3 cell) and
// `hazard-clusters` (DBSCAN hulls), switched on while the view is open; the table lists per grid
// the hazards, open ones, clusters and hot cells of the analysis window
// (GET /api/analysis/aggregates?group=grid). Admins and planners can recompute the analysis
// (POST /api/analysis/refresh), after which the tiles are reloaded.
//
// What-if: pick "close a station" (click a station), "close a road" (click a road) or "add a
// station" (click anywhere); every change asks GET /api/planner/what-if and draws the scenario's
// 5-minute area (green; the live one dashed), the buildings it newly leaves uncovered (magenta,
// extruded) or newly covers (green), the closed roads and the stations.

import { ApiError, api, escapeHtml, toast } from './api.js';
import { removeLayers, setGeoJSON } from './map.js';

const ANALYSIS_LAYERS = ['hotspots', 'hazard-clusters'];
const GRID_ROWS = 15;
const UNCOVERED = '#ae017e'; // magenta: apart from the red of hot spots and hazards
const SOURCES = ['ft-whatif-coverage', 'ft-whatif-uncovered', 'ft-whatif-covered',
  'ft-whatif-roads', 'ft-whatif-stations'];
export const WHATIF_LAYERS = ['ft-whatif-after', 'ft-whatif-before', 'ft-whatif-uncovered',
  'ft-whatif-covered', 'ft-whatif-roads', 'ft-whatif-stations'];
const MODE_HINT = {
  'close-station': '点击地图上的消防站将其关闭（再次点击恢复）。',
  'close-road': '点击道路将其封闭（再次点击恢复）。',
  'add-station': '点击地图上的位置新增消防站。',
};

const state = { mode: null, without: [], close: [], add: [], result: null, runs: 0, seq: 0,
  ready: false, aggregates: null, previousVisibility: {} };

const EMPTY = { type: 'FeatureCollection', features: [] };

function ensureLayers(map) {
  for (const id of SOURCES) if (!map.getSource(id)) map.addSource(id, { type: 'geojson', data: EMPTY });
  if (map.getLayer('ft-whatif-after')) return;
  map.addLayer({ id: 'ft-whatif-after', type: 'fill', source: 'ft-whatif-coverage',
    filter: ['==', ['get', 'scenario'], 'after'],
    paint: { 'fill-color': '#31a354', 'fill-opacity': 0.22 } });
  map.addLayer({ id: 'ft-whatif-before', type: 'line', source: 'ft-whatif-coverage',
    filter: ['==', ['get', 'scenario'], 'before'],
    paint: { 'line-color': '#636363', 'line-width': 1.5, 'line-dasharray': [3, 2] } });
  map.addLayer({ id: 'ft-whatif-covered', type: 'fill-extrusion', source: 'ft-whatif-covered',
    paint: { 'fill-extrusion-color': '#238b45', 'fill-extrusion-opacity': 0.9,
      'fill-extrusion-height': ['+', ['coalesce', ['get', 'height_m'], 6], 1] } });
  map.addLayer({ id: 'ft-whatif-uncovered', type: 'fill-extrusion', source: 'ft-whatif-uncovered',
    paint: { 'fill-extrusion-color': UNCOVERED, 'fill-extrusion-opacity': 0.95,
      'fill-extrusion-height': ['+', ['coalesce', ['get', 'height_m'], 6], 1] } });
  map.addLayer({ id: 'ft-whatif-roads', type: 'line', source: 'ft-whatif-roads',
    layout: { 'line-cap': 'round' },
    paint: { 'line-color': '#b10026', 'line-width': 6, 'line-dasharray': [1, 1] } });
  map.addLayer({ id: 'ft-whatif-stations', type: 'circle', source: 'ft-whatif-stations',
    paint: { 'circle-radius': 9, 'circle-stroke-width': 3,
      'circle-color': ['match', ['get', 'change'], 'added', '#31a354', 'closed', '#252525', '#2171b5'],
      'circle-stroke-color': ['match', ['get', 'change'], 'closed', '#d7191c', '#ffffff'] } });
}

function showAnalysisLayers(map, on) {
  for (const id of ANALYSIS_LAYERS) {
    if (!map.getLayer(id)) continue;
    if (on) state.previousVisibility[id] ??= map.getLayoutProperty(id, 'visibility') ?? 'visible';
    const vis = on ? 'visible' : state.previousVisibility[id] ?? 'none';
    map.setLayoutProperty(id, 'visibility', vis);
    const box = document.querySelector(`input[data-layer-toggle='${id}']`);
    if (box) {
      box.checked = vis !== 'none';
      box.closest('li')?.classList.toggle('off', vis === 'none');
    }
  }
  if (!on) state.previousVisibility = {};
}

// ----------------------------------------------------------------- hot spots and clusters

async function loadGrids() {
  const note = document.getElementById('planner-hot-note');
  const table = document.getElementById('planner-grids');
  try {
    const body = await api('/api/analysis/aggregates?group=grid');
    state.aggregates = body;
    const from = body.window.from.slice(0, 10);
    const to = body.window.to.slice(0, 10);
    const shown = body.rows.slice(0, GRID_ROWS); // most hazards first (the API's order)
    note.textContent = `${from} — ${to}；地图显示热点（Gi*，红）与聚集区（轮廓）。` +
      (body.rows.length > shown.length ? `共 ${body.rows.length} 个网格，列出隐患最多的 ${shown.length} 个。` : '');
    table.innerHTML = `<tr><th>网格</th><th>隐患</th><th>未销号</th><th>聚集区</th><th>热点格</th>
      <th>/km²</th></tr>${shown.map((r) => `<tr data-grid="${r.id}"><td>${escapeHtml(r.name ?? r.id)}</td>
      <td>${r.hazards}</td><td>${r.open}</td><td>${r.clusters}</td><td>${r.hot_cells}</td>
      <td>${r.hazards_per_km2 ?? '—'}</td></tr>`).join('')}`;
  } catch (e) {
    note.textContent = e instanceof ApiError && e.status === 403 ? '本角色不能查看隐患分析。' : e.message;
    table.innerHTML = '';
  }
}

/** Reload the catalogue tiles (after the stored analysis changed). */
function reloadTiles(map) {
  const src = map.getSource('firetwin');
  if (src && src.tiles && src.setTiles) {
    const v = Date.now();
    src.setTiles(src.tiles.map((t) => `${t.split('?')[0]}?v=${v}`));
  }
}

async function refreshAnalysis(ctx, button) {
  button.disabled = true;
  button.textContent = '计算中…';
  try {
    const r = await api('/api/analysis/refresh', { method: 'POST' });
    reloadTiles(ctx.map);
    await loadGrids();
    toast(`分析已更新：${r.clusters ?? '—'} 个聚集区`);
  } catch (e) {
    toast(`分析失败：${e.message}`);
  } finally {
    button.disabled = false;
    button.textContent = '重新计算';
  }
}

// ----------------------------------------------------------------------- what-if coverage

function query() {
  const q = new URLSearchParams();
  for (const id of state.without) q.append('without_station', id);
  for (const id of state.close) q.append('close_edge', id);
  for (const [lon, lat] of state.add) q.append('add_station', `${lon.toFixed(6)},${lat.toFixed(6)}`);
  return q;
}

function renderList() {
  const items = [
    ...state.without.map((id) => ({ kind: 'without', id, text: `关闭消防站 #${id}` })),
    ...state.close.map((id) => ({ kind: 'close', id, text: `封闭道路 #${id}` })),
    ...state.add.map((p, i) => ({ kind: 'add', id: i, text: `新增消防站 ${p[0].toFixed(5)}, ${p[1].toFixed(5)}` })),
  ];
  const list = document.getElementById('whatif-list');
  list.innerHTML = items.length ? '' : '<li class="hint">现状（未做改动）</li>';
  for (const it of items) {
    const li = document.createElement('li');
    li.dataset.kind = it.kind;
    li.innerHTML = `${escapeHtml(it.text)} <button type="button" class="icon" title="撤销">×</button>`;
    li.querySelector('button').addEventListener('click', () => {
      if (it.kind === 'without') state.without = state.without.filter((x) => x !== it.id);
      else if (it.kind === 'close') state.close = state.close.filter((x) => x !== it.id);
      else state.add.splice(it.id, 1);
      changed();
    });
    list.appendChild(li);
  }
}

const pct = (s) => (s == null ? '—' : `${(s * 100).toFixed(1)} %`);

function renderResult(r) {
  const b = r.buildings;
  const sign = (n) => (n > 0 ? `+${n}` : `${n}`);
  document.getElementById('whatif-result').innerHTML = `
    <table>
      <tr><th></th><th>现状</th><th>推演</th></tr>
      <tr><th>5 分钟内建筑</th><td>${b.before.reached} / ${b.before.total}</td>
        <td data-after-reached="${b.after.reached}">${b.after.reached} / ${b.after.total}</td></tr>
      <tr><th>覆盖率</th><td>${pct(b.before.share)}</td><td>${pct(b.after.share)}
        (${sign(b.after.reached - b.before.reached)})</td></tr>
    </table>
    <p><b style="color:${UNCOVERED}" data-uncovered="${b.newly_uncovered}">新增未覆盖建筑 ${b.newly_uncovered}</b> ·
       <b class="ok" data-covered="${b.newly_covered}">新增覆盖 ${b.newly_covered}</b></p>
    <p class="hint">出动 ${r.standard_s - r.band_s} s + 行车 ${r.band_s} s；绿色为推演后的 5 分钟范围，虚线为现状。</p>`;
}

function draw(map, r) {
  ensureLayers(map);
  setGeoJSON(map, 'ft-whatif-coverage', r.coverage);
  setGeoJSON(map, 'ft-whatif-uncovered', r.newly_uncovered);
  setGeoJSON(map, 'ft-whatif-covered', r.newly_covered);
  setGeoJSON(map, 'ft-whatif-roads', r.closed_roads);
  setGeoJSON(map, 'ft-whatif-stations', r.stations);
}

let ctxRef = null;

async function runWhatIf() {
  const seq = ++state.seq;
  const q = query();
  state.pending = true;
  try {
    const r = await api(`/api/planner/what-if?${q}`);
    if (seq !== state.seq) return null; // a newer change is on its way
    state.result = r;
    state.runs += 1;
    state.query = q.toString();
    draw(ctxRef.map, r);
    renderResult(r);
    return r;
  } catch (e) {
    if (seq === state.seq) {
      document.getElementById('whatif-result').innerHTML = `<p class="error">${escapeHtml(e.message)}</p>`;
    }
    return null;
  } finally {
    if (seq === state.seq) state.pending = false;
  }
}

function changed() {
  renderList();
  return runWhatIf();
}

function setMode(mode) {
  state.mode = state.mode === mode ? null : mode;
  for (const b of document.querySelectorAll('#whatif-modes [data-mode]')) {
    b.classList.toggle('active', b.dataset.mode === state.mode);
  }
  document.getElementById('whatif-hint').textContent = MODE_HINT[state.mode] ?? '选择一种操作，然后在地图上点击。';
  window.firetwin.mapClickOwner = state.mode ? 'planner' : null;
  if (ctxRef) ctxRef.map.getCanvas().style.cursor = state.mode ? 'crosshair' : '';
}

function onMapClick(e) {
  if (!state.mode || window.firetwin.view !== 'planner') return;
  const map = ctxRef.map;
  const box = (px) => [[e.point.x - px, e.point.y - px], [e.point.x + px, e.point.y + px]];
  const toggle = (list, id) => (list.includes(id) ? list.filter((x) => x !== id) : [...list, id]);
  if (state.mode === 'close-station') {
    const hit = map.getLayer('stations') && map.queryRenderedFeatures(box(8), { layers: ['stations'] })[0];
    if (!hit) { toast('请点击一个消防站'); return; }
    state.without = toggle(state.without, hit.id);
  } else if (state.mode === 'close-road') {
    const hit = map.getLayer('roads') && map.queryRenderedFeatures(box(6), { layers: ['roads'] })[0];
    if (!hit) { toast('请点击一条道路'); return; }
    state.close = toggle(state.close, hit.id);
  } else {
    state.add.push([e.lngLat.lng, e.lngLat.lat]);
  }
  changed();
}

export function setupPlanner(ctx) {
  ctxRef = ctx;
  window.firetwin.planner = state;
  for (const b of document.querySelectorAll('#whatif-modes [data-mode]')) {
    b.addEventListener('click', () => setMode(b.dataset.mode));
  }
  document.getElementById('whatif-reset').addEventListener('click', () => {
    state.without = [];
    state.close = [];
    state.add = [];
    changed();
  });
  const refresh = document.getElementById('planner-refresh');
  refresh.hidden = !['admin', 'planner'].includes(ctx.me.role);
  refresh.addEventListener('click', () => refreshAnalysis(ctx, refresh));
  ctx.map.on('click', onMapClick);
}

/** Open the view: analysis layers on, the per-grid table, the current scenario drawn. */
export async function loadPlanner(ctx) {
  const note = document.getElementById('planner-note');
  state.ready = false;
  if (ctx.me.role === 'public') {
    note.textContent = '规划视图供工作人员使用，请登录。';
    return null;
  }
  note.textContent = '';
  showAnalysisLayers(ctx.map, true);
  renderList();
  const [, r] = await Promise.all([loadGrids(), runWhatIf()]);
  state.ready = true;
  return r;
}

/** Leave the view: the what-if drawing and the analysis layers go. */
export function clearPlanner(map) {
  setMode(null);
  showAnalysisLayers(map, false);
  removeLayers(map, WHATIF_LAYERS);
  for (const id of SOURCES) if (map.getSource(id)) map.removeSource(id);
}
