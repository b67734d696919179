// FireTwin one-map: start-up, sign-in and the views (#map, #patrol, #cockpit, #planner).
// window.firetwin exposes the map and the page's state to scripts and the browser tests.

import { ApiError, choseNoLogin, escapeHtml, login, logout, preloaded, setChoseNoLogin, token,
  whoAmI } from './api.js';
import { buildLayerPanel, prepareStyle } from './layers.js';
import { catalogueLayerIds, createMap, loadStyle, maplibregl, whenRendered } from './map.js';
import { setupDetails, showDetails } from './details.js';
import { startLivePanel } from './live.js';

const ROLE_ZH = { admin: '区级管理员', dispatcher: '调度员', planner: '规划', street_officer: '街道',
  community_admin: '社区管理员', grid_worker: '网格员', inspector: '巡查员', unit_manager: '单位管理人',
  public: '公众' };

window.firetwin = { ready: false, firstRenderMs: null, errors: [] };

// Start the requests the map needs before anything else (the module graph is already loaded).
const styleP = loadStyle();
const meP = whoAmI();
const catalogueP = preloaded('layers', '/api/layers');

function setupLogin(me) {
  const dialog = document.getElementById('login');
  const form = document.getElementById('login-form');
  const error = document.getElementById('login-error');
  document.getElementById('who').textContent = me.role === 'public'
    ? '公众' : `${me.username} · ${ROLE_ZH[me.role] ?? me.role}`;
  document.getElementById('login-open').hidden = me.role !== 'public';
  document.getElementById('logout').hidden = me.role === 'public';
  document.getElementById('login-open').addEventListener('click', () => dialog.showModal());
  document.getElementById('logout').addEventListener('click', () => { logout(); location.reload(); });
  document.getElementById('continue-public').addEventListener('click', () => {
    setChoseNoLogin(true);
    dialog.close();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      await login(form.username.value.trim(), form.password.value);
      location.reload(); // style, tiles and panels all follow the new scope
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401 ? '用户名或密码错误' : err.message;
      error.hidden = false;
    }
  });
  if (me.role === 'public' && !choseNoLogin() && !token()) dialog.showModal();
}

const views = { map: null, patrol: null, cockpit: null, planner: null };

async function showView(ctx) {
  const name = (location.hash.replace('#', '') || 'map').split('?')[0];
  const view = name in views ? name : 'map';
  document.body.className = `view-${view}`;
  for (const a of document.querySelectorAll('#views a')) a.classList.toggle('active', a.dataset.view === view);
  ctx.map.resize();
  window.firetwin.view = view;
  if (view === 'patrol') {
    views.patrol ??= import('./patrol.js').then((m) => { m.setupPatrol(ctx); return m; });
    const m = await views.patrol;
    await m.loadPatrol(ctx);
  } else if (view === 'cockpit') {
    views.cockpit ??= import('./cockpit.js');
    const m = await views.cockpit;
    await m.loadCockpit(ctx);
  } else if (view === 'planner') {
    views.planner ??= import('./planner.js').then((m) => { m.setupPlanner(ctx); return m; });
    const m = await views.planner;
    await m.loadPlanner(ctx);
  }
  if (view !== 'patrol' && views.patrol) (await views.patrol).clearPatrol(ctx.map);
  if (view !== 'planner' && views.planner) (await views.planner).clearPlanner(ctx.map);
}

async function main() {
  const [style, me] = await Promise.all([styleP, meP]);
  setupLogin(me);
  performance.mark('firetwin:style');
  const map = createMap('map', prepareStyle(style, me.role));
  performance.mark('firetwin:map-created');
  const ctx = { map, me, maplibregl, layersById: new Map() };
  Object.assign(window.firetwin, { map, me, maplibregl });
  whenRendered(map).then(({ ms, features }) => {
    Object.assign(window.firetwin, { firstRenderMs: ms, firstRenderFeatures: features, ready: true });
  });
  document.getElementById('toggle-sidebar').addEventListener('click', () =>
    document.body.classList.toggle('sidebar-open'));
  map.once('load', async () => {
    const catalogue = await catalogueP;
    ctx.layersById = buildLayerPanel(map, catalogue, document.getElementById('layer-list'));
    setupDetails(ctx, () => catalogueLayerIds(map));
    startLivePanel({
      map, maplibregl,
      onSelect: (item) => {
        if (item.lon == null) return;
        map.flyTo({ center: [item.lon, item.lat], zoom: Math.max(map.getZoom(), 16) });
        showDetails(ctx, item.id != null
          ? { layerId: 'hazards', id: item.id, geometry: { type: 'Point', coordinates: [item.lon, item.lat] },
            properties: { code: item.code, tier: item.tier, status: item.status, title: item.title } }
          : null, { lng: item.lon, lat: item.lat });
      },
    });
    window.addEventListener('hashchange', () => showView(ctx));
    window.firetwin.loaded = true;
    await showView(ctx);
  });
}

main().catch((e) => {
  window.firetwin.errors.push(String(e));
  document.getElementById('toast').hidden = false;
  document.getElementById('toast').innerHTML = `地图加载失败：${escapeHtml(e.message)}`;
  console.error(e);
});
