// Trends: a shared visible time range, a toolbar to move it (presets, zoom, pan, live), and
// charts (uPlot) that fetch each tag's series bucketed at the resolution the range and the
// plot's width call for (see resolution.js), with empty buckets as nulls so gaps in the data
// are drawn as gaps. Dragging across a chart zooms to the selection; every control is also a
// button, and the chart itself takes arrow keys (pan), + and - (zoom) and End (live).

import { h, fill } from './dom.js';
import { get } from './api.js';
import { t } from './i18n.js';
import { chooseBucket, bucketText } from './resolution.js';
import * as fmt from './format.js';

// Okabe–Ito colours (distinguishable with colour-vision deficiencies), each with its own
// dash pattern so that colour is not the only way to tell series apart.
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
const DASHES = [[], [10, 4], [2, 3], [12, 3, 2, 3], [6, 6], [1, 2], [16, 4, 4, 4]];

/** Range presets: label key and span in ms. */
export const PRESETS = [
  ['1h', 3600e3], ['6h', 6 * 3600e3], ['24h', 86400e3],
  ['7d', 7 * 86400e3], ['30d', 30 * 86400e3], ['90d', 90 * 86400e3],
];
const MIN_SPAN = 60e3;
const MAX_SPAN = 2 * 365 * 86400e3;

/** The visible time range shared by the trends of one page. */
export class TimeRange {
  constructor(spanMs) {
    this.listeners = new Set();
    this.to = Date.now();
    this.from = this.to - spanMs;
    this.live = true;
  }

  span() {
    return this.to - this.from;
  }

  /** Shows [from, to); `live` (or an end past now) keeps the end at now. */
  set(from, to, live = false) {
    const span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, to - from));
    // A span out of bounds keeps its middle.
    let end = to - (to - from - span) / 2;
    const now = Date.now();
    if (live || end >= now) {
      end = now;
      live = true;
    }
    this.from = Math.round(end - span);
    this.to = Math.round(end);
    this.live = live;
    for (const listener of this.listeners) listener(this);
  }

  /** Shows the last `spanMs` and follows now. */
  preset(spanMs) {
    const now = Date.now();
    this.set(now - spanMs, now, true);
  }

  /** Zooms by `factor` (0.5 in, 2 out) around the middle, or the end when live. */
  zoom(factor) {
    const span = this.span() * factor;
    if (this.live) {
      this.set(this.to - span, this.to, true);
    } else {
      const middle = (this.from + this.to) / 2;
      this.set(middle - span / 2, middle + span / 2, false);
    }
  }

  /** Moves by a fraction of the span (negative: back in time). */
  pan(fraction) {
    const shift = this.span() * fraction;
    this.set(this.from + shift, this.to + shift, false);
  }

  /** Moves the end to now, keeping the span, and follows. */
  follow() {
    const now = Date.now();
    this.set(now - this.span(), now, true);
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Buttons that move a range, with its current extent written out. */
export function rangeToolbar(range, timeZone) {
  const extent = h('p', { class: 'range-extent', 'aria-live': 'polite' });
  const show = () => {
    fill(extent, t('trend.showing', {
      from: fmt.dateTime(range.from, timeZone),
      to: range.live ? t('trend.now') : fmt.dateTime(range.to, timeZone),
      zone: fmt.zoneName(timeZone),
    }));
    live.setAttribute('aria-pressed', String(range.live));
  };
  const button = (label, onclick, attrs = {}) =>
    h('button', { type: 'button', class: 'tool', onclick, ...attrs }, label);
  const live = button(t('trend.live'), () => range.follow(), { 'aria-pressed': 'true', class: 'tool live' });
  const bar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': t('trend.controls') },
    h('span', { class: 'tool-group', role: 'group', 'aria-label': t('trend.presets') },
      PRESETS.map(([label, span]) => button(t(`trend.preset.${label}`), () => range.preset(span),
        { dataset: { preset: label } }))),
    h('span', { class: 'tool-group', role: 'group', 'aria-label': t('trend.zoom') },
      button(t('trend.zoomIn'), () => range.zoom(0.5), { dataset: { action: 'zoom-in' } }),
      button(t('trend.zoomOut'), () => range.zoom(2), { dataset: { action: 'zoom-out' } })),
    h('span', { class: 'tool-group', role: 'group', 'aria-label': t('trend.pan') },
      button(t('trend.earlier'), () => range.pan(-0.5), { dataset: { action: 'pan-left' } }),
      button(t('trend.later'), () => range.pan(0.5), { dataset: { action: 'pan-right' } }),
      live));
  const unsubscribe = range.subscribe(show);
  show();
  return { el: h('div', { class: 'range' }, bar, extent), destroy: unsubscribe };
}

/** One chart of some tags over the shared range. */
export class Trend {
  /**
   * @param range the shared TimeRange
   * @param options {label: accessible name, timeZone, empty: text when no tags are chosen}
   */
  constructor(range, options) {
    this.range = range;
    this.options = options;
    this.tags = [];
    this.seq = 0;
    this.plot = null;
    this.status = h('p', { class: 'trend-status', 'aria-live': 'polite' });
    this.chart = h('div', {
      class: 'chart',
      tabindex: '0',
      role: 'group',
      'aria-roledescription': t('trend.chart'),
      'aria-label': options.label,
      onkeydown: (e) => this.key(e),
    });
    this.el = h('div', { class: 'trend' }, this.chart, this.status);
    this.unsubscribe = range.subscribe(() => this.reload());
    this.resize = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize(this.size());
    });
    this.resize.observe(this.chart);
  }

  /** Draws these tags ([{id, label, unit}]). */
  setTags(tags) {
    this.tags = tags;
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
    }
    return this.reload();
  }

  size() {
    return { width: Math.max(300, this.chart.clientWidth || 800), height: 260 };
  }

  key(e) {
    const actions = {
      ArrowLeft: () => this.range.pan(-0.25),
      ArrowRight: () => this.range.pan(0.25),
      '+': () => this.range.zoom(0.5),
      '=': () => this.range.zoom(0.5),
      '-': () => this.range.zoom(2),
      End: () => this.range.follow(),
    };
    if (actions[e.key]) {
      e.preventDefault();
      actions[e.key]();
    }
  }

  async reload() {
    const seq = ++this.seq;
    if (this.tags.length === 0) {
      fill(this.status, this.options.empty || '');
      this.chart.dataset.points = '0';
      return;
    }
    const { from, to } = this.range;
    const bucket = bucketText(chooseBucket(from, to, this.size().width));
    const query = `from=${encodeURIComponent(new Date(from).toISOString())}` +
      `&to=${encodeURIComponent(new Date(to).toISOString())}&bucket=${bucket}&agg=avg&fill=null`;
    fill(this.status, t('trend.loading'));
    this.chart.setAttribute('aria-busy', 'true');
    let answers;
    try {
      answers = await Promise.all(this.tags.map((tag) => get(`/tags/${tag.id}/samples?${query}`)));
    } catch (e) {
      if (seq === this.seq) {
        fill(this.status, h('span', { class: 'error', role: 'alert' }, t('trend.failed', { detail: e.detail || String(e) })));
        this.chart.removeAttribute('aria-busy');
      }
      return;
    }
    // A newer range was asked for while this one loaded: its answer wins.
    if (seq !== this.seq) return;
    // With fill=null every series has every bucket of the range, on the same grid.
    const xs = answers[0].points.map((p) => Date.parse(p.time) / 1000);
    const data = [xs, ...answers.map((a) => a.points.map((p) => p.value))];
    const drawn = data.slice(1).reduce((n, ys) => n + ys.filter((v) => v !== null).length, 0);
    this.draw(data);
    this.chart.dataset.bucket = bucket;
    this.chart.dataset.points = String(drawn);
    this.chart.dataset.buckets = String(xs.length);
    this.chart.dataset.series = String(this.tags.length);
    this.chart.removeAttribute('aria-busy');
    fill(this.status, t('trend.status', {
      bucket, buckets: fmt.count(xs.length), points: fmt.count(drawn), source: answers[0].source,
    }));
  }

  draw(data) {
    const uPlot = globalThis.uPlot;
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    const units = [...new Set(this.tags.map((tag) => tag.unit || ''))];
    const timeZone = this.options.timeZone;
    const opts = {
      ...this.size(),
      tzDate: timeZone ? (ts) => uPlot.tzDate(new Date(ts * 1e3), timeZone) : undefined,
      scales: {
        x: { time: true, range: () => [this.range.from / 1000, this.range.to / 1000] },
      },
      series: [
        { label: t('trend.time'), value: (u, v) => (v === null ? '–' : fmt.dateTime(v * 1000, timeZone)) },
        ...this.tags.map((tag, i) => ({
          label: tag.unit ? `${tag.label} (${tag.unit})` : tag.label,
          scale: `u:${tag.unit || ''}`,
          stroke: PALETTE[i % PALETTE.length],
          dash: DASHES[i % DASHES.length],
          width: 1.5,
          spanGaps: false,
          value: (u, v) => fmt.value(v, tag.unit),
        })),
      ],
      axes: [
        { values: (u, splits) => splits.map((v) => fmt.axisTime(v * 1000, this.range.span(), timeZone)) },
        ...units.slice(0, 2).map((unit, i) => ({
          scale: `u:${unit}`,
          label: unit,
          side: i === 0 ? 3 : 1,
          grid: { show: i === 0 },
        })),
      ],
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 4) return;
          const a = u.posToVal(u.select.left, 'x');
          const b = u.posToVal(u.select.left + u.select.width, 'x');
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          this.range.set(a * 1000, b * 1000, false);
        }],
      },
    };
    this.plot = new uPlot(opts, data, this.chart);
  }

  destroy() {
    this.seq++;
    this.unsubscribe();
    this.resize.disconnect();
    if (this.plot) this.plot.destroy();
  }
}
