// The cockpit (#cockpit): hazard governance over the last 12 months from GET /api/stats/hazards —
// hazards found per community and month, rectification rate per community against the 95 %
// target (seed 002), and the monthly trend — and the rectification Gantt of open red/orange
// hazards against their deadlines (gantt.js). Charts by Chart.js, served from /static/vendor.

import { api, escapeHtml, toast } from './api.js';
import { drawGantt } from './gantt.js';

const MONTHS = 12;
const TOP_COMMUNITIES = 8;
const PALETTE = ['#d7191c', '#fd8d3c', '#fecc5c', '#a1d99b', '#31a354', '#2c7bb6', '#756bb1',
  '#636363', '#bdbdbd'];

let chartLib = null;
const charts = {};

/** Chart.js is a UMD file: load it once, on first use of the cockpit. */
function loadChartJs() {
  if (chartLib) return chartLib;
  chartLib = new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = '/static/vendor/chart.umd.min.js';
    s.onload = () => resolve(window.Chart);
    s.onerror = () => reject(new Error('Chart.js is missing: run `make web`'));
    document.head.appendChild(s);
  });
  return chartLib;
}

const iso = (d) => d.toISOString().slice(0, 10);

/** The 12 calendar months ending with the month of `asOf` (UTC dates). */
export function lastMonths(asOf, n = MONTHS) {
  const out = [];
  for (let i = n - 1; i >= 0; i -= 1) {
    const first = new Date(Date.UTC(asOf.getUTCFullYear(), asOf.getUTCMonth() - i, 1));
    const last = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 0));
    out.push({ label: iso(first).slice(0, 7), from: iso(first), to: iso(last) });
  }
  return out;
}

/** The data's "now": the latest hazard reported (demo data end in the past), not after today. */
async function asOfDate() {
  const latest = await api('/api/hazards?sort=-reported_at&limit=1');
  const today = new Date();
  const at = latest.items.length ? new Date(latest.items[0].reported_at) : today;
  return at < today ? at : today;
}

function draw(Chart, id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart(document.getElementById(id), config);
}

const pct = (v) => (v == null ? '—' : `${(v * 100).toFixed(1)} %`);

function kpis(total, targets) {
  const tiles = [
    ['发现隐患', total.hazards_found],
    ['已整改', total.rectified_of_found],
    ['整改率', pct(total.rectification_rate), total.rectification_rate != null
      && total.rectification_rate >= targets.rectification_rate],
    ['复发率', pct(total.recurrence_rate), total.recurrence_rate != null
      && total.recurrence_rate <= targets.recurrence_rate],
    ['期末超期', total.overdue],
    ['检查单位', total.units_inspected],
  ];
  document.getElementById('kpis').innerHTML = tiles.map(([k, v, ok]) =>
    `<div class="kpi${ok === undefined ? '' : ok ? ' ok' : ' bad'}"><small>${k}</small><b>${escapeHtml(v)}</b></div>`).join('');
}

export async function loadCockpit(ctx) {
  const note = document.getElementById('cockpit-note');
  window.firetwin.cockpit = { ready: false };
  if (ctx.me.role === 'public') {
    note.textContent = '驾驶舱供工作人员使用，请登录。';
    return null;
  }
  note.textContent = '统计中…';
  try {
    const [Chart, asOf] = await Promise.all([loadChartJs(), asOfDate()]);
    const months = lastMonths(asOf);
    const period = { from: months[0].from, to: months.at(-1).to };
    document.getElementById('cockpit-period').textContent = `${period.from} — ${period.to}`;
    const q = (p) => `/api/stats/hazards?group=community&from=${p.from}&to=${p.to}`;
    const ganttP = drawGantt(Chart, charts);
    const [whole, ...monthly] = await Promise.all([api(q(period)), ...months.map((m) => api(q(m)))]);

    kpis(whole.totals, whole.targets);
    const top = [...whole.rows].sort((a, b) => b.hazards_found - a.hazards_found);
    const names = top.slice(0, TOP_COMMUNITIES).map((r) => r.name);
    const series = names.map((name, i) => ({
      label: name, backgroundColor: PALETTE[i],
      data: monthly.map((m) => m.rows.find((r) => r.name === name)?.hazards_found ?? 0),
    }));
    if (top.length > TOP_COMMUNITIES) {
      series.push({ label: '其他社区', backgroundColor: PALETTE.at(-1),
        data: monthly.map((m) => m.rows.filter((r) => !names.includes(r.name))
          .reduce((s, r) => s + r.hazards_found, 0)) });
    }
    const common = { responsive: true, maintainAspectRatio: false, animation: false };
    draw(Chart, 'chart-monthly', { type: 'bar', data: { labels: months.map((m) => m.label), datasets: series },
      options: { ...common, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } } } });

    const rated = [...whole.rows].filter((r) => r.rectification_rate != null)
      .sort((a, b) => a.rectification_rate - b.rectification_rate).slice(0, 15);
    const target = whole.targets.rectification_rate;
    draw(Chart, 'chart-rate', { type: 'bar',
      data: { labels: rated.map((r) => r.name), datasets: [
        { label: '整改率 %', data: rated.map((r) => +(r.rectification_rate * 100).toFixed(1)),
          backgroundColor: rated.map((r) => (r.rectification_rate >= target ? '#31a354' : '#de2d26')) },
        { label: `目标 ${target * 100} %`, type: 'line', data: rated.map(() => target * 100),
          borderColor: '#636363', borderDash: [4, 4], pointRadius: 0 }] },
      options: { ...common, indexAxis: 'y', scales: { x: { min: 0, max: 100 } },
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } } } });

    draw(Chart, 'chart-trend', { type: 'line',
      data: { labels: months.map((m) => m.label), datasets: [
        { label: '发现', data: monthly.map((m) => m.totals.hazards_found), borderColor: '#d7191c',
          backgroundColor: '#d7191c', yAxisID: 'y' },
        { label: '已整改', data: monthly.map((m) => m.totals.rectified_of_found), borderColor: '#2c7bb6',
          backgroundColor: '#2c7bb6', yAxisID: 'y' },
        { label: '整改率 %', data: monthly.map((m) => (m.totals.rectification_rate == null ? null
          : +(m.totals.rectification_rate * 100).toFixed(1))), borderColor: '#31a354',
          backgroundColor: '#31a354', borderDash: [4, 3], yAxisID: 'rate' }] },
      options: { ...common, scales: { y: { beginAtZero: true, position: 'left' },
        rate: { min: 0, max: 100, position: 'right', grid: { drawOnChartArea: false } } },
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } } } });

    note.textContent = `按社区统计（${whole.scope === 'all' ? '全区' : '本人网格范围'}）；整改率在期末计。`;
    const gantt = await ganttP;
    window.firetwin.cockpit = { ready: true, whole, monthly, months, gantt };
    return whole;
  } catch (e) {
    note.textContent = e.message;
    toast(e.message);
    return null;
  }
}
