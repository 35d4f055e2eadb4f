// Machine states and their colours, from the MES state builder (`GET /machine-states/current`:
// running, idle, down, fault, setup or unknown). Tenants whose plan has no MES, and roles that
// may not read it, see every machine as "state unknown" without a call being made.
//
// Colour is never the only carrier: each badge has a symbol and a word, and a title saying
// since when (in the site's time zone) and the fault code, if any.

import { h, fill } from './dom.js';
import { t } from './i18n.js';
import { get } from './api.js';
import * as fmt from './format.js';

/** States the badge knows, with their symbols. */
export const STATES = {
  running: '▶',
  idle: '❚❚',
  setup: '⚙',
  down: '■',
  fault: '✖',
  unknown: '?',
};

/**
 * The state of each machine: a Map of id → {state, since, code}. `readable` says whether the
 * signed-in account may read MES data (else every machine is unknown and nothing is fetched).
 */
export async function machineStates(machineIds, readable) {
  const out = new Map(machineIds.map((id) => [id, { state: 'unknown', since: null, code: 0 }]));
  if (!readable) return out;
  const wanted = new Set(machineIds);
  for (const s of await get('/machine-states/current')) {
    if (wanted.has(s.machine_id)) out.set(s.machine_id, { state: s.state, since: s.since, code: s.code });
  }
  return out;
}

/** The badge for a state ({state, since, code} or a state name); times in `timeZone`. */
export function stateBadge(current, timeZone) {
  const s = typeof current === 'string' || !current ? { state: current } : current;
  const name = s.state in STATES ? s.state : 'unknown';
  const title = [];
  if (s.since) title.push(t('state.since', { time: fmt.dateTime(s.since, timeZone) }));
  if (s.code) title.push(t('state.code', { code: s.code }));
  return h('span', {
    class: `state state-${name}`, dataset: { state: name }, title: title.join(' · ') || null,
  },
  h('span', { 'aria-hidden': 'true', class: 'state-symbol' }, STATES[name]), ' ',
  t(`state.${name}`));
}

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/**
 * A machine's states over a trend's visible range (`GET /machines/{id}/states`, at most the
 * last 31 days of it) as a band of coloured spans under the trend, each with a title, and a
 * legend writing out the time spent in each state with its symbol and word.
 */
export class StateBand {
  /**
   * `plotArea`: a function giving the trend's plot area element (uPlot's `.u-over`), if drawn,
   * so the band lines up with the trend's time axis.
   */
  constructor(range, machineId, { timeZone, label, plotArea }) {
    this.range = range;
    this.plotArea = plotArea || (() => null);
    this.machineId = machineId;
    this.timeZone = timeZone;
    this.seq = 0;
    this.band = h('div', { class: 'band', role: 'img', 'aria-label': label });
    this.legend = h('p', { class: 'band-legend' });
    this.el = h('figure', { class: 'state-band', id: 'state-band' }, this.band, this.legend);
    this.unsubscribe = range.subscribe(() => this.reload());
    this.resize = new ResizeObserver(() => this.align());
    this.resize.observe(this.el);
  }

  /** Gives the band the left edge and width of the trend's plot area (CSSOM, not markup). */
  align() {
    const area = this.plotArea();
    if (!area || !this.el.isConnected) return;
    const a = area.getBoundingClientRect();
    const f = this.el.getBoundingClientRect();
    if (a.width < 10) return;
    this.band.style.marginLeft = `${Math.max(0, a.left - f.left)}px`;
    this.band.style.width = `${a.width}px`;
  }

  async reload() {
    const seq = ++this.seq;
    const to = Math.min(this.range.to, Date.now());
    const from = Math.max(this.range.from, to - 31 * 86400e3 + 1000);
    if (to <= from) return;
    let answer;
    try {
      answer = await get(`/machines/${this.machineId}/states?from=${encodeURIComponent(new Date(from).toISOString())}` +
        `&to=${encodeURIComponent(new Date(to).toISOString())}`);
    } catch (e) {
      if (seq === this.seq) fill(this.legend, h('span', { class: 'error' }, e.detail || String(e)));
      return;
    }
    if (seq !== this.seq) return;
    const W = 1000;
    const span = this.range.to - this.range.from;
    const x = (ms) => Math.max(0, Math.min(W, ((ms - this.range.from) / span) * W));
    const totals = new Map();
    const rects = answer.intervals.map((i) => {
      const start = Date.parse(i.start);
      const end = i.end ? Date.parse(i.end) : to;
      totals.set(i.state, (totals.get(i.state) || 0) + (end - start) / 1000);
      const name = i.state in STATES ? i.state : 'unknown';
      return svg('rect', {
        class: `band-${name}`, x: x(start).toFixed(2), y: 0, width: Math.max(0.5, x(end) - x(start)).toFixed(2), height: 24,
        'data-state': name,
      }, svg('title', {}, `${t(`state.${name}`)}: ${fmt.dateTime(start, this.timeZone)} – ${i.end ? fmt.dateTime(end, this.timeZone) : t('trend.now')}`));
    });
    fill(this.band, svg('svg', { viewBox: `0 0 ${W} 24`, preserveAspectRatio: 'none' }, ...rects));
    this.el.dataset.spans = String(rects.length);
    this.align();
    fill(this.legend, [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([state, secs]) =>
      h('span', { class: `band-key state-${state in STATES ? state : 'unknown'}` },
        h('span', { 'aria-hidden': 'true' }, STATES[state] || '?'), ' ', t(`state.${state}`), ' ', fmt.duration(secs))));
  }

  destroy() {
    this.seq++;
    this.unsubscribe();
    this.resize.disconnect();
  }
}
