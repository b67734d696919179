// Clicking the map: the top feature's attributes (field titles from the catalogue); for a hazard
// its record and history from the API (staff only); and, for any point or place, the nearest
// stations with their routes.

import { ApiError, api, escapeHtml, fieldName, label, when } from './api.js';
import { clearRoutes, showNearestStations } from './routes.js';

const HIDDEN_FIELDS = new Set(['h3_r9', 'h3_cell', 'cluster_id']);

function fieldRows(props, layer) {
  const fields = layer ? layer.fields : Object.keys(props).map((name) => ({ name }));
  return fields
    .filter((f) => props[f.name] !== undefined && props[f.name] !== null && !HIDDEN_FIELDS.has(f.name))
    .map((f) => {
      let v = props[f.name];
      if (f.type === 'datetime') v = when(v);
      else if (typeof v === 'boolean' || ['tier', 'status', 'kind', 'colour_code'].includes(f.name)) v = label(v);
      return `<tr><th>${escapeHtml(fieldName(f))}</th><td>${escapeHtml(v)}</td></tr>`;
    })
    .join('');
}

async function hazardRecord(id, body) {
  const box = document.createElement('div');
  box.className = 'hazard-record';
  box.innerHTML = '<p class="hint">读取隐患档案…</p>';
  body.appendChild(box);
  try {
    const [h, history] = await Promise.all([api(`/api/hazards/${id}`), api(`/api/hazards/${id}/history`)]);
    const deadlines = [['核实期限', h.verify_due_at], ['整改期限', h.rectify_due_at],
      ['复查期限', h.recheck_due_at]].filter(([, v]) => v);
    box.innerHTML = `
      <p><b class="tier tier-${escapeHtml(h.tier)}">${escapeHtml(label(h.tier))}</b>
         ${escapeHtml(h.code)} · ${escapeHtml(label(h.status))}
         ${h.overdue ? '<b class="late">已超期</b>' : ''} ${h.supervised ? '<b class="late">挂牌督办</b>' : ''}</p>
      ${h.description ? `<p>${escapeHtml(h.description)}</p>` : ''}
      <table>${deadlines.map(([k, v]) => `<tr><th>${k}</th><td>${when(v)}</td></tr>`).join('')}</table>
      ${h.actions && h.actions.length ? `<p class="hint">可执行：${h.actions.map(escapeHtml).join('、')}</p>` : ''}
      <h3>处置记录</h3>
      <ol class="history">${history.map((e) => `<li><time>${when(e.at)}</time>
        <b>${escapeHtml(e.action ?? e.kind ?? '')}</b> ${escapeHtml(e.actor_name ?? '')}
        ${e.from_status ? `${escapeHtml(label(e.from_status))} → ${escapeHtml(label(e.to_status))}` : ''}
        ${e.note ? `<br><small>${escapeHtml(e.note)}</small>` : ''}</li>`).join('')}</ol>`;
    window.firetwin.hazardDetail = { hazard: h, history };
  } catch (e) {
    box.innerHTML = e instanceof ApiError && e.status === 401
      ? '<p class="hint">登录后可查看隐患档案与处置记录。</p>'
      : `<p class="error">${escapeHtml(e.message)}</p>`;
  }
}

/**
 * Show a feature (or, with none, a place) in the details panel.
 * @param {object} ctx {map, layersById}
 * @param {object|null} feature a MapLibre feature, or a plain {layer, id, properties, lngLat}
 * @param {{lng:number, lat:number}} lngLat where the user clicked
 */
export function showDetails(ctx, feature, lngLat) {
  const panel = document.getElementById('details');
  const title = document.getElementById('details-title');
  const body = document.getElementById('details-body');
  document.getElementById('routes').hidden = true;
  clearRoutes(ctx.map);
  panel.hidden = false;
  let at = [lngLat.lng, lngLat.lat];
  if (feature) {
    const layerId = feature.layer?.id ?? feature.layerId;
    const layer = ctx.layersById.get(layerId);
    if (feature.geometry?.type === 'Point') at = feature.geometry.coordinates;
    title.textContent = layer ? layer.title_zh : layerId;
    body.innerHTML = `<table class="props">${fieldRows(feature.properties, layer)}</table>`;
    if (layerId === 'hazards' && feature.id != null) hazardRecord(feature.id, body);
  } else {
    title.textContent = '位置';
    body.innerHTML = '';
  }
  const coords = document.createElement('p');
  coords.className = 'hint';
  coords.textContent = `${at[0].toFixed(5)}, ${at[1].toFixed(5)}`;
  body.prepend(coords);
  const button = document.createElement('button');
  button.type = 'button';
  button.id = 'nearest-stations';
  button.className = 'primary';
  button.textContent = '最近消防站与路线';
  button.addEventListener('click', () => showNearestStations(ctx.map, at[0], at[1]).catch(() => {}));
  body.prepend(button);
  window.firetwin.selected = feature ? { layer: feature.layer?.id, id: feature.id,
    properties: feature.properties } : null;
}

export function setupDetails(ctx, interactiveLayers) {
  const { map } = ctx;
  const pick = (point) => {
    const layers = interactiveLayers().filter((id) => map.getLayer(id)
      && map.getLayoutProperty(id, 'visibility') !== 'none');
    const box = [[point.x - 5, point.y - 5], [point.x + 5, point.y + 5]];
    return map.queryRenderedFeatures(box, { layers });
  };
  map.on('click', (e) => {
    if (window.firetwin.mapClickOwner) return; // a view's tool (the planner's what-if) has it
    const hits = pick(e.point);
    // Points over lines over areas: the feature drawn on top is not always the one meant.
    const rank = (f) => ({ circle: 0, line: 1, 'fill-extrusion': 2, fill: 3 })[f.layer.type] ?? 4;
    hits.sort((a, b) => rank(a) - rank(b));
    showDetails(ctx, hits[0] ?? null, e.lngLat);
  });
  map.on('mousemove', (e) => {
    map.getCanvas().style.cursor = pick(e.point).some((f) => f.layer.type === 'circle') ? 'pointer' : '';
  });
  document.getElementById('details-close').addEventListener('click', () => {
    document.getElementById('details').hidden = true;
    clearRoutes(map);
  });
}
