// Talking to the FireTwin API: the bearer token (sessionStorage), JSON fetches, sign-in.
// Every fetch carries the token, so the API filters by the caller's role scope; without a token
// the caller is the public.

const TOKEN_KEY = 'firetwin.token';
const PUBLIC_KEY = 'firetwin.public';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The user chose to continue without signing in (asked once per browser session). */
export function choseNoLogin() {
  return sessionStorage.getItem(PUBLIC_KEY) === '1';
}

export function setChoseNoLogin(value) {
  if (value) sessionStorage.setItem(PUBLIC_KEY, '1');
  else sessionStorage.removeItem(PUBLIC_KEY);
}

export function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** Whether a URL goes to this server (only those get the token). */
export function sameOrigin(url) {
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === 'string' ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

/**
 * A GET the page started before the modules loaded (index.html), if it was made with the
 * current token; otherwise (or when it failed) fetched now.
 */
export async function preloaded(name, path) {
  const pre = window.firetwinPreload;
  const pending = pre && pre.token === token() ? pre[name] : null;
  if (pre) pre[name] = null; // use once
  if (pending) {
    try {
      const res = await pending;
      if (res.ok) return await res.json();
    } catch { /* fetch it again below */ }
  }
  try {
    return await api(path);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401 && token())) throw e;
    setToken(null); // an expired token: carry on as the public (the page offers to sign in)
    return api(path);
  }
}

/**
 * Fetch JSON from the API with the caller's token.
 * @param {string} path e.g. "/api/hazards?limit=20"
 * @param {{method?: string, json?: object, form?: Record<string,string>, signal?: AbortSignal}} opts
 */
export async function api(path, { method = 'GET', json, form, signal } = {}) {
  const headers = { Accept: 'application/json', ...authHeaders() };
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = new URLSearchParams(form);
  }
  const res = await fetch(path, { method, headers, body, signal });
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) throw new ApiError(res.status, data && data.detail ? data.detail : data);
  return data;
}

/** OAuth2 password flow: POST /api/auth/token; stores the token. */
export async function login(username, password) {
  const body = await api('/api/auth/token', { method: 'POST', form: { username, password } });
  setToken(body.access_token);
  setChoseNoLogin(false);
  return body.access_token;
}

export function logout() {
  setToken(null);
  setChoseNoLogin(false);
}

/** Who is calling: {role, username, scope} or the public. A stale token is dropped. */
export async function whoAmI() {
  if (!token()) return { role: 'public', username: null };
  try {
    return await preloaded('me', '/api/auth/me');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      setToken(null);
      return { role: 'public', username: null };
    }
    throw e;
  }
}

// ------------------------------------------------------------------ small formatting helpers

export function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

/** 95.5 → "1:36" (minutes:seconds). */
export function mmss(seconds) {
  if (seconds == null) return '—';
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString('zh-CN', { hour12: false });
}

export function toast(message, ms = 4000) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, ms);
}

/** Chinese labels of the vocabulary values the legend and panels show. */
export const LABELS = {
  red: '红', orange: '橙', yellow: '黄', blue: '蓝', green: '绿',
  alarm: '告警', offline: '离线', fault: '故障', online: '在线', in_service: '在用',
  out_of_service: '停用', micro: '微型站', level1: '一级站', level2: '二级站', small: '小型站',
  reported: '已上报', verified: '已核实', rejected: '已驳回', rectifying: '整改中',
  rectified: '已整改', rechecked: '已复查', closed: '已销号',
  unit: '单位', hazard: '隐患', sensor: '设备',
  true: '是', false: '否',
};

/** Chinese names of the attributes the details panel shows (the catalogue's title otherwise). */
export const FIELD_ZH = {
  code: '编码', name: '名称', category: '类别', subcategory: '子类', tier: '等级', status: '状态',
  source: '来源', title: '标题', reported_at: '上报时间', rectify_due_at: '整改期限',
  closed_at: '销号时间', supervised: '督办', published: '已公开', unit_id: '单位 ID',
  grid_id: '网格 ID', reporter_name: '上报人', responsible_person: '责任人',
  responsible_phone: '责任人电话', kind: '类型', staff: '人员', phone: '电话', vehicles: '车辆',
  last_seen_at: '最近上线', last_value: '最近读数', unit_name: '单位', score: '风险分',
  rank: '排名', as_of: '评估日期', model_version: '模型版本', community: '社区', street: '街道',
  worker_name: '网格员', level: '级别', population: '人口', area_km2: '面积 km²',
  small_place_type: '九小场所类型', key_domain: '重点领域', key_unit_type: '重点单位类型',
  colour_code: '码色', address: '地址', use: '用途', floors: '层数', height_m: '高度 m',
  built_year: '建成年份', high_rise: '高层', owner_person: '管护人',
  last_inspected_at: '最近检查', occurred_at: '发生时间', cause: '原因', severity: '严重程度',
  casualties: '伤亡', work_kind: '作业类型', starts_at: '开始', ends_at: '结束',
  applicant: '申请人', road_class: '道路等级', width_m: '宽度 m', maxheight_m: '限高 m',
  oneway: '单行', speed_kph: '限速 km/h', length_m: '长度 m', is_fire_lane: '消防车通道',
  blocked: '占用', truck_ok: '消防车可通行', problem: '问题', message: '说明',
  label_zh: '问题', computed_at: '计算时间', units: '单位数', buildings: '建筑数',
  high_risk_units: '高风险单位', best_eta_s: '最短到场 s', resolution: 'H3 分辨率',
  max_score: '最高风险分',
};

export function fieldName(field) {
  return FIELD_ZH[field.name] ?? (field.title || field.name);
}

export function label(value) {
  if (value === null || value === undefined) return '其他';
  return LABELS[String(value)] ?? String(value);
}
