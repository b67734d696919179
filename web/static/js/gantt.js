// The rectification Gantt of the cockpit (seed 002: 整改甘特图): open red and orange hazards
// awaiting rectification (GET /api/cockpit/rectification, in the caller's scope), one bar each
// from its verification (or report) to its rectification deadline; the part past the deadline
// up to now is drawn dark red. Chart.js floating bars on a linear time axis (no date adapter).

import { api, escapeHtml } from './api.js';

export const GANTT_ROWS = 40; // bars drawn (earliest deadline first); the rest are counted
const DAY = 86_400_000;
const TIER_COLOUR = { red: '#d7191c', orange: '#fd8d3c' };
const LATE = '#67000d';

const day = (ms) => new Date(ms).toISOString().slice(0, 10);

/** Bars of each row: elapsed (start → min(now, deadline)), to go (now → deadline), overdue. */
export function ganttBars(items, nowMs) {
  return items.map((h) => {
    const start = Date.parse(h.start_at);
    const due = Date.parse(h.deadline);
    return {
      id: h.id, label: h.code, tier: h.tier, overdue: h.overdue,
      elapsed: [start, Math.min(nowMs, due)],
      toGo: due > nowMs ? [nowMs, due] : null,
      late: due < nowMs ? [due, nowMs] : null,
    };
  });
}

/** A vertical line at "now" (a small Chart.js plugin). */
const nowLine = (nowMs) => ({
  id: 'nowLine',
  afterDatasetsDraw(chart) {
    const { ctx, chartArea: a, scales: { x } } = chart;
    const px = x.getPixelForValue(nowMs);
    if (px < a.left || px > a.right) return;
    ctx.save();
    ctx.strokeStyle = '#333';
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(px, a.top);
    ctx.lineTo(px, a.bottom);
    ctx.stroke();
    ctx.fillStyle = '#333';
    ctx.fillText('今日', px + 3, a.top + 10);
    ctx.restore();
  },
});

/**
 * Fetch and draw the Gantt into canvas #chart-gantt.
 * @returns {Promise<object>} {body, bars} (also window.firetwin.cockpit.gantt)
 */
export async function drawGantt(Chart, charts) {
  const body = await api('/api/cockpit/rectification?limit=2000');
  const nowMs = Date.parse(body.as_of);
  const bars = ganttBars(body.items.slice(0, GANTT_ROWS), nowMs);
  const canvas = document.getElementById('chart-gantt');
  canvas.parentElement.style.height = `${Math.max(120, 40 + bars.length * 18)}px`;
  document.getElementById('gantt-summary').innerHTML =
    `未整改红/橙隐患 <b>${body.total}</b> 处（红 ${body.by_tier.red}，橙 ${body.by_tier.orange}），` +
    `其中超期 <b class="late">${body.overdue}</b> 处` +
    (body.total > bars.length ? `；图中为期限最早的 ${bars.length} 处` : '');
  if (charts.gantt) charts.gantt.destroy();
  const starts = bars.map((b) => b.elapsed[0]);
  const ends = bars.map((b) => (b.toGo ? b.toGo[1] : nowMs));
  charts.gantt = new Chart(canvas, {
    type: 'bar',
    data: {
      labels: bars.map((b) => b.label),
      datasets: [
        { label: '已用时间', data: bars.map((b) => b.elapsed),
          backgroundColor: bars.map((b) => TIER_COLOUR[b.tier]) },
        { label: '距期限', data: bars.map((b) => b.toGo),
          backgroundColor: bars.map((b) => `${TIER_COLOUR[b.tier]}55`) },
        { label: '超期', data: bars.map((b) => b.late), backgroundColor: LATE },
      ],
    },
    options: {
      indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false,
      scales: {
        x: { type: 'linear', min: Math.min(...starts, nowMs) - DAY, max: Math.max(...ends, nowMs) + DAY,
          ticks: { callback: (v) => day(v), maxRotation: 0, autoSkipPadding: 16 } },
        y: { stacked: true, ticks: { font: { size: 10 } } },
      },
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 12 } },
        tooltip: { callbacks: { label: (c) => {
          const b = bars[c.dataIndex];
          const [a, z] = c.raw;
          return `${c.dataset.label}: ${day(a)} → ${day(z)} (${((z - a) / DAY).toFixed(1)} 天)${b.overdue ? ' 超期' : ''}`;
        } } },
      },
    },
    plugins: [nowLine(nowMs)],
  });
  if (!bars.length) {
    document.getElementById('gantt-summary').innerHTML = escapeHtml('没有未整改的红/橙隐患。');
  }
  return { body, bars };
}
