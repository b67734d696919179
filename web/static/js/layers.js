// Layer toggles and the legend, built from the layer catalogue (GET /api/layers): one entry per
// layer the caller may see, with the colour of each value the style distinguishes.

import { FIELD_ZH, escapeHtml, label } from './api.js';

// Layers shown at start; the others (analysis overlays, dense point layers) start hidden so the
// first picture stays readable. A layer a later catalogue adds starts shown unless it is a fill.
const START_HIDDEN = new Set(['risk', 'risk-cells', 'units', 'incidents', 'hot-work',
  'coverage-gaps', 'fire-lane-problems']);

export function startsVisible(layer) {
  return !START_HIDDEN.has(layer.id) && layer.legend.kind !== 'fill';
}

// Legend text of a yes/no property: "高层" / "非高层".
const BOOLEAN_LABELS = { high_rise: ['高层', '非高层'], truck_ok: ['消防车可通行', '消防车不可通行'] };

function swatchLabel(s) {
  const prop = FIELD_ZH[s.property] ?? s.property;
  if (s.from !== undefined) return `${prop} ≥ ${s.from}`;
  if (s.value === undefined) return '';
  if (typeof s.value === 'boolean') {
    const pair = BOOLEAN_LABELS[s.property];
    return pair ? pair[s.value ? 0 : 1] : `${prop}：${label(s.value)}`;
  }
  return label(s.value);
}

function legendHtml(layer) {
  const kind = layer.legend.kind;
  return layer.legend.swatches.map((s) => {
    const text = swatchLabel(s);
    return `<li><i class="swatch ${kind}" style="--c:${escapeHtml(s.color)}"></i>` +
      `${escapeHtml(text || layer.legend.label_zh)}</li>`;
  }).join('');
}

// Which hazards the map draws. Staff start with the open ones (the work in hand); the public,
// who see rectified hazards only, start with the last 12 months. Five years of closed hazards
// at district zoom hide the current ones (and cost the browser most of its first render).
export const HAZARD_FILTERS = {
  open: { label: '未销号', filter: ['!', ['in', ['get', 'status'], ['literal', ['closed', 'rejected']]]] },
  year: { label: '近 12 个月', filter: () => ['>=', ['get', 'reported_at'],
    new Date(Date.now() - 365 * 86_400_000).toISOString().slice(0, 10)] },
  all: { label: '全部（含历史）', filter: null },
};

export function setHazardFilter(map, name) {
  if (map.getLayer('hazards')) map.setFilter('hazards', filterExpression(name));
  window.firetwin.hazardFilter = name;
}

export function initialHazardFilter(role) {
  return role === 'public' ? 'year' : 'open';
}

function filterExpression(name) {
  const f = HAZARD_FILTERS[name].filter;
  return typeof f === 'function' ? f() : f;
}

/**
 * Set the starting visibility of each layer and the hazard filter in the style itself, before
 * the map exists: hidden or filtered-out features then cost the browser nothing.
 */
export function prepareStyle(style, role) {
  for (const layer of style.layers) {
    if (layer.source !== 'firetwin') continue;
    const visible = startsVisible({ id: layer.id, legend: { kind: layer.type } });
    layer.layout = { ...(layer.layout || {}), visibility: visible ? 'visible' : 'none' };
    if (layer.id === 'hazards') {
      const f = filterExpression(initialHazardFilter(role));
      if (f) layer.filter = f;
      else delete layer.filter;
    }
  }
  return style;
}

function hazardFilterControl(map, role) {
  const initial = initialHazardFilter(role);
  window.firetwin.hazardFilter = initial;
  const select = document.createElement('select');
  select.dataset.hazardFilter = '';
  select.title = '显示哪些隐患';
  select.innerHTML = Object.entries(HAZARD_FILTERS).map(([k, v]) =>
    `<option value="${k}"${k === initial ? ' selected' : ''}>${v.label}</option>`).join('');
  select.addEventListener('change', () => setHazardFilter(map, select.value));
  return select;
}

/**
 * Fill `list` with a toggle and legend per catalogue layer present in the map's style.
 * @returns {Map<string, object>} the catalogue entries by layer id
 */
export function buildLayerPanel(map, catalogue, list) {
  const byId = new Map(catalogue.layers.map((l) => [l.id, l]));
  list.innerHTML = '';
  for (const layer of catalogue.layers) {
    if (!map.getLayer(layer.id)) continue;
    const visible = map.getLayoutProperty(layer.id, 'visibility') !== 'none'; // prepareStyle
    const li = document.createElement('li');
    li.dataset.layer = layer.id;
    li.innerHTML = `
      <label title="${escapeHtml(layer.description)}">
        <input type="checkbox" data-layer-toggle="${escapeHtml(layer.id)}"${visible ? ' checked' : ''}>
        <span>${escapeHtml(layer.title_zh)}</span><small>z${layer.minzoom}+</small>
      </label>
      <ul class="legend">${legendHtml(layer)}</ul>`;
    li.querySelector('input').addEventListener('change', (e) => {
      map.setLayoutProperty(layer.id, 'visibility', e.target.checked ? 'visible' : 'none');
      li.classList.toggle('off', !e.target.checked);
    });
    li.classList.toggle('off', !visible);
    if (layer.id === 'hazards') li.querySelector('label').after(hazardFilterControl(map, catalogue.role));
    list.appendChild(li);
  }
  return byId;
}
