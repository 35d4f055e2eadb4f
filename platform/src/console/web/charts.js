// Figures drawn as charts: horizontal bar charts in SVG (losses, Pareto, yield), built from
// DOM nodes like the rest of the page (no inline styles, so the content security policy
// holds), and control charts (uPlot) with centre line, control limits, specification limits
// and the points that break a run rule marked. Each chart has an accessible name, and each
// bar and marked point a title; the pages put the same numbers in a table beside it.

import { h } from './dom.js';
import { t } from './i18n.js';
import * as fmt from './format.js';

const SVG = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

/**
 * A horizontal bar chart. `bars`: [{label, value, text}] (text: the value written out);
 * `cumulative`: optional shares 0..1 per bar, drawn as a line (a Pareto chart); `max`: the
 * scale's end (default the largest |value|).
 */
export function barChart({ id, label, bars, cumulative = null, max = null }) {
  const W = 900;
  const LABEL = 230;
  const AREA = cumulative ? 380 : 470;
  // The cumulative share gets its own column right of the bars' values, 0 to 100 %.
  const CUM = LABEL + AREA + 150;
  const CUM_W = W - CUM - 10;
  const ROW = 26;
  const TOP = cumulative ? 22 : 6;
  const height = TOP + bars.length * ROW + 8;
  const end = max || Math.max(1e-12, ...bars.map((b) => Math.abs(b.value || 0)));
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'xMinYMin meet',
  }, s('title', {}, label));
  svg.append(s('line', { class: 'axis', x1: LABEL, x2: LABEL, y1: TOP - 4, y2: height - 4 }));
  let drawn = 0;
  bars.forEach((b, i) => {
    const y = TOP + i * ROW;
    const v = b.value || 0;
    const w = Math.max(v === 0 ? 0 : 1, (Math.abs(v) / end) * AREA);
    if (v !== 0) drawn++;
    svg.append(
      s('text', { x: LABEL - 8, y: y + 17, 'text-anchor': 'end' }, b.label),
      s('rect', {
        class: v < 0 ? 'bar negative' : 'bar', x: LABEL, y: y + 4, width: w.toFixed(1), height: ROW - 8,
        'data-value': v,
      }, s('title', {}, `${b.label}: ${b.text}`)),
      s('text', { x: LABEL + w + 6, y: y + 17 }, b.text));
  });
  if (cumulative) {
    const points = cumulative.map((c, i) => [CUM + c * CUM_W, TOP + i * ROW + ROW / 2]);
    svg.append(
      s('line', { class: 'axis', x1: CUM, x2: CUM, y1: TOP - 4, y2: height - 4 }),
      s('line', { class: 'axis', x1: CUM + CUM_W, x2: CUM + CUM_W, y1: TOP - 4, y2: height - 4 }),
      s('text', { x: CUM + CUM_W, y: 14, 'text-anchor': 'end' }, t('chart.cumulative')),
      s('polyline', { class: 'cumulative', points: points.map((p) => p.map((x) => x.toFixed(1)).join(',')).join(' ') }),
      ...points.map(([x, y], i) => s('circle', { class: 'cumulative-dot', cx: x.toFixed(1), cy: y.toFixed(1), r: 3 },
        s('title', {}, `${bars[i].label}: ${t('chart.cumulativeShare', { share: fmt.percent(cumulative[i]) })}`))));
  }
  return h('figure', { class: 'bars', id, dataset: { bars: String(drawn) } }, svg);
}

const COLOURS = {
  value: '#0072B2', centre: '#009E73', limit: '#D55E00', spec: '#CC79A7', violation: '#cf222e',
};

/**
 * A control chart (one of a characteristic's pair) with uPlot: the points, the centre line,
 * the control limits, the specification limits when `spec` is given, and the points of run-rule
 * violations marked. Returns {el, destroy}; `el.dataset` says how many points and marks.
 */
export function controlChart(chart, { label, unit, spec, timeZone, height = 260 }) {
  const uPlot = globalThis.uPlot;
  const el = h('div', { class: 'chart control-chart', tabindex: '0', role: 'img', 'aria-label': label });
  const points = chart.points;
  const xs = points.map((p) => p.index);
  const flagged = new Set(chart.violations.flatMap((v) => [v.at]));
  const ys = points.map((p) => p.value);
  const flat = (v) => points.map(() => v);
  const series = [
    { label: t('spc.point') },
    {
      label: unit ? `${t(`spc.stat.${chart.statistic}`)} (${unit})` : t(`spc.stat.${chart.statistic}`),
      stroke: COLOURS.value, width: 1.5, points: { show: true, size: 5 },
      value: (u, v) => fmt.value(v),
    },
    { label: t('spc.centre'), stroke: COLOURS.centre, width: 1.5, points: { show: false }, value: (u, v) => fmt.value(v) },
    { label: t('spc.ucl'), stroke: COLOURS.limit, width: 1.5, dash: [8, 4], points: { show: false }, value: (u, v) => fmt.value(v) },
    { label: t('spc.lcl'), stroke: COLOURS.limit, width: 1.5, dash: [8, 4], points: { show: false }, value: (u, v) => fmt.value(v) },
  ];
  const data = [xs, ys, flat(chart.centre), flat(chart.ucl), flat(chart.lcl)];
  if (spec) {
    for (const [key, v] of [['usl', spec.usl], ['lsl', spec.lsl]]) {
      if (v === null || v === undefined) continue;
      series.push({ label: t(`spc.${key}`), stroke: COLOURS.spec, width: 1, dash: [2, 3], points: { show: false }, value: (u, x) => fmt.value(x) });
      data.push(flat(v));
    }
  }
  // The points that complete a violated pattern, as big red dots without a line.
  series.push({
    label: t('spc.violations'), stroke: COLOURS.violation, fill: COLOURS.violation, width: 0,
    paths: () => null, points: { show: true, size: 11, stroke: COLOURS.violation, fill: COLOURS.violation },
    value: (u, v) => (v === null ? '' : fmt.value(v)),
  });
  data.push(points.map((p) => (flagged.has(p.index) ? p.value : null)));
  const byIndex = new Map(points.map((p) => [p.index, p]));
  series[0].value = (u, v) => {
    if (v === null || v === undefined) return '–';
    const p = byIndex.get(v);
    return p && p.time ? `#${v} · ${fmt.dateTime(p.time, timeZone)}` : `#${v}`;
  };
  const opts = {
    width: 800, height,
    scales: { x: { time: false } },
    series,
    axes: [{ label: t('spc.index') }, { label: unit || '' }],
  };
  let plot = null;
  const resize = new ResizeObserver(() => {
    const width = Math.max(320, el.clientWidth - 10);
    if (plot) plot.setSize({ width, height });
  });
  plot = new uPlot(opts, data, el);
  resize.observe(el);
  el.dataset.points = String(points.length);
  el.dataset.marked = String(flagged.size);
  el.dataset.centre = String(chart.centre);
  return {
    el,
    destroy: () => {
      resize.disconnect();
      plot.destroy();
    },
  };
}
