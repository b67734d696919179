// The live panel: new alarms and hazards as they happen.
//
// Sources feed one panel through the same callback (`onEvents(items, {initial})`, each item
// normalised by `normalise`):
//   * SseSource subscribes to GET /api/live/alarms (server-sent events) with fetch(), so the
//     token goes as an Authorization header like everywhere else (EventSource cannot send one);
//     it resumes with Last-Event-ID after a drop;
//   * HazardPoller polls GET /api/hazards?sort=-reported_at&limit=20 and reports hazards it has
//     not seen before.
// LiveFeed runs both: the stream for alarms, polling for newly reported hazards. Should the
// stream carry hazards too (`event: hazard`), polling stops — the stream replaces it by existing.

import { ApiError, api, authHeaders, escapeHtml, label, when } from './api.js';

export const POLL_MS = 1000; // the panel must show a new hazard within 2 s
const MAX_ITEMS = 50;
const SENSOR_ZH = { smoke: '烟感', gas: '可燃气体', residual_current: '剩余电流', cable_temperature: '线缆温度',
  hydrant_pressure: '消火栓水压', ebike_charging: '电动车充电' };
const EVENT_ZH = { raised: '报警', escalated: '报警升级', cleared: '报警解除', fault: '故障',
  recovered: '恢复' };

/** A sensor alarm message of /api/live/alarms as a panel item. */
function fromAlarm(a) {
  const calm = a.event === 'cleared' || a.event === 'recovered';
  const tier = calm ? 'blue' : a.hazard_tier ?? (a.level >= 2 ? 'red' : a.level === 1 ? 'orange' : null);
  return {
    key: `alarm:${a.id}`, kind: 'alarm', id: a.hazard_id ?? null, alarmId: a.id,
    code: a.sensor_code ?? '', tier, status: a.event,
    title: `${SENSOR_ZH[a.kind] ?? a.kind ?? '设备'}${EVENT_ZH[a.event] ?? a.event ?? ''}` +
      `${a.location_note ? ` · ${a.location_note}` : ''}`,
    lon: a.lon ?? null, lat: a.lat ?? null, at: a.raised_at ?? a.observed_at,
  };
}

/** One live item from a hazard row or a stream event, whatever its exact shape. */
export function normalise(raw, kind = 'hazard') {
  if (kind === 'alarm' && raw.sensor_code !== undefined) return fromAlarm(raw);
  const src = raw.hazard ?? raw.data ?? raw;
  const coords = src.geometry?.coordinates;
  return {
    key: `${kind}:${src.id ?? src.code}`,
    kind,
    id: src.id ?? src.hazard_id ?? null,
    code: src.code ?? '',
    tier: src.tier ?? src.level ?? null,
    title: src.title ?? src.message ?? src.reason ?? '',
    status: src.status ?? null,
    lon: src.lon ?? coords?.[0] ?? null,
    lat: src.lat ?? coords?.[1] ?? null,
    at: src.reported_at ?? src.at ?? new Date().toISOString(),
  };
}

export class HazardPoller {
  constructor(onEvents, onError, { intervalMs = POLL_MS, limit = 20 } = {}) {
    this.onEvents = onEvents;
    this.onError = onError;
    this.intervalMs = intervalMs;
    this.limit = limit;
    this.seen = new Set();
    this.primed = false;
    this.timer = null;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.tick();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async tick() {
    try {
      const body = await api(`/api/hazards?sort=-reported_at&limit=${this.limit}`);
      const fresh = body.items.filter((h) => !this.seen.has(h.id));
      fresh.forEach((h) => this.seen.add(h.id));
      if (fresh.length && !this.stopped) {
        this.onEvents(fresh.reverse().map((h) => normalise(h)), { initial: !this.primed });
      }
      this.primed = true;
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
        this.onError(e, { fatal: true });
        return;
      }
      this.onError(e, { fatal: false });
    }
    if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.intervalMs);
  }
}

/** Server-sent events over fetch (text/event-stream parsed here), with the bearer token. */
export class SseSource {
  constructor(onEvents, { onOpen = () => {}, onFail = () => {}, path = '/api/live/alarms' } = {}) {
    this.onEvents = onEvents;
    this.onOpen = onOpen;
    this.onFail = onFail;
    this.path = path;
    this.lastId = null;
    this.retryMs = 3000;
    this.stopped = false;
    this.ctrl = null;
  }

  async start() {
    this.stopped = false;
    this.ctrl = new AbortController();
    const headers = { Accept: 'text/event-stream', ...authHeaders() };
    if (this.lastId) headers['Last-Event-ID'] = this.lastId;
    let res;
    try {
      res = await fetch(this.path, { headers, signal: this.ctrl.signal, cache: 'no-store' });
    } catch {
      this.reconnect();
      return;
    }
    const type = res.headers.get('content-type') || '';
    if (!res.ok || !type.startsWith('text/event-stream')) {
      // No stream here (404) or not for this caller (401/403): do without it.
      res.body?.cancel();
      this.onFail(res.status);
      return;
    }
    this.onOpen();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf = (buf + value).replace(/\r\n?/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          this.dispatch(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
    } catch { /* aborted or dropped */ }
    this.reconnect();
  }

  reconnect() {
    if (!this.stopped) this.timer = setTimeout(() => this.start(), this.retryMs);
  }

  dispatch(block) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const at = line.indexOf(':');
      const field = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') this.lastId = value;
      else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = +value;
    }
    if (!data.length) return;
    let parsed;
    try {
      parsed = JSON.parse(data.join('\n'));
    } catch {
      return;
    }
    const kind = event === 'message' ? 'alarm' : event;
    const items = (Array.isArray(parsed) ? parsed : [parsed]).map((d) => normalise(d, kind));
    this.onEvents(items, { initial: false, event: kind });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ctrl) this.ctrl.abort();
  }
}

/** The alarm stream where there is one, and polling for hazards until a stream carries them. */
export class LiveFeed {
  constructor(onEvents, onMode) {
    this.onEvents = onEvents;
    this.onMode = onMode;
    this.stream = 'connecting';
    this.polling = true;
  }

  mode() {
    if (this.signedOut) return 'signed-out';
    const parts = [];
    if (this.stream === 'open') parts.push('sse');
    if (this.polling) parts.push('poll');
    return parts.join('+') || 'none';
  }

  start() {
    this.poller = new HazardPoller(this.onEvents, (e, { fatal }) => {
      if (fatal) {
        this.signedOut = true;
        this.stop();
      }
      this.onMode(this.mode());
    });
    this.sse = new SseSource((items, info) => {
      if (info.event === 'hazard' && this.polling) { // the stream carries hazards: stop polling
        this.polling = false;
        this.poller.stop();
        this.onMode(this.mode());
      }
      this.onEvents(items, info);
    }, {
      onOpen: () => { this.stream = 'open'; this.onMode(this.mode()); },
      onFail: () => { this.stream = 'none'; this.onMode(this.mode()); },
    });
    this.poller.start();
    this.sse.start();
    this.onMode(this.mode());
  }

  stop() {
    this.poller?.stop();
    this.sse?.stop();
  }
}

/**
 * The live panel: a list, newest first; red items that arrive live flash (list and map).
 * @param {object} ctx {map, maplibregl, onSelect(item)}
 */
export function startLivePanel(ctx) {
  const list = document.getElementById('live-list');
  const modeEl = document.getElementById('live-mode');
  const note = document.getElementById('live-note');
  const state = { items: [], mode: null };
  window.firetwin.live = state;
  const markers = [];

  const flashOnMap = (item) => {
    if (item.lon == null || item.lat == null) return;
    const el = document.createElement('div');
    el.className = 'pulse';
    el.title = item.title;
    const marker = new ctx.maplibregl.Marker({ element: el }).setLngLat([item.lon, item.lat]).addTo(ctx.map);
    markers.push(marker);
    if (markers.length > 10) markers.shift().remove();
    setTimeout(() => marker.remove(), 60_000);
  };

  const render = (items, { initial }) => {
    for (const item of items) {
      state.items.unshift(item);
      const li = document.createElement('li');
      li.dataset.key = item.key;
      li.dataset.kind = item.kind;
      if (item.id != null) li.dataset.id = item.id;
      if (item.alarmId != null) li.dataset.alarmId = item.alarmId;
      li.className = `tier-${item.tier ?? 'none'}${initial ? '' : ' new'}`;
      if (!initial && item.tier === 'red') {
        li.classList.add('flash');
        flashOnMap(item);
      }
      li.innerHTML = `<b class="tier tier-${escapeHtml(item.tier ?? 'none')}">${escapeHtml(label(item.tier))}</b>
        <span class="title">${escapeHtml(item.title || item.code)}</span>
        <small>${escapeHtml(item.code)} · ${escapeHtml(label(item.status ?? item.kind))} · ${when(item.at)}</small>`;
      li.addEventListener('click', () => ctx.onSelect(item));
      list.prepend(li);
    }
    while (list.children.length > MAX_ITEMS) list.lastElementChild.remove();
    state.items.length = Math.min(state.items.length, MAX_ITEMS);
  };

  const feed = new LiveFeed(render, (mode) => {
    state.mode = mode;
    modeEl.textContent = mode === 'signed-out' ? '' : mode.split('+')
      .map((m) => ({ sse: '告警实时流', poll: `隐患轮询 ${POLL_MS / 1000} s` })[m] ?? '').join(' · ');
    note.hidden = mode !== 'signed-out';
    note.textContent = '登录后查看实时告警与新上报隐患。';
  });
  feed.start();
  return feed;
}
