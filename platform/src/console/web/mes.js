// What the MES and quality pages share: a line picker and a range picker, each a labelled
// select whose choice is kept in the address (#/mes/oee?line=3&range=7d), so a reload or a
// shared link shows the same figures.

import { h, field } from './dom.js';
import { t } from './i18n.js';

/** Ranges offered, with their length in days. */
export const RANGES = [['1d', 1], ['7d', 7], ['30d', 30]];

/** The query of the current address (after `?` in the hash). */
export function query() {
  const hash = location.hash;
  const at = hash.indexOf('?');
  return new URLSearchParams(at >= 0 ? hash.slice(at + 1) : '');
}

/** Replaces the address's query without reloading the page or adding history. */
export function setQuery(params) {
  const path = location.hash.split('?')[0] || '#/';
  const q = new URLSearchParams(params).toString();
  history.replaceState(null, '', q ? `${path}?${q}` : path);
}

/** A labelled select; `options`: [[value, text]]. */
export function picker(id, label, options, value, onchange) {
  const select = h('select', { id, value, onchange: (e) => onchange(e.target.value) },
    options.map(([v, text]) => h('option', { value: v }, text)));
  return { el: field(label, select), select };
}

/** Lines of the plant as picker options, "site › line", sorted. */
export function lineOptions(p) {
  return [...p.lines]
    .map((l) => {
      const site = p.site.get(l.site_id);
      return [String(l.id), site ? `${site.name} › ${l.name}` : l.name];
    })
    .sort((a, b) => a[1].localeCompare(b[1], undefined, { numeric: true }));
}

/** The range options, in the reader's language. */
export function rangeOptions(ranges = RANGES) {
  return ranges.map(([key]) => [key, t(`range.${key}`)]);
}

/** [from, to] as Dates for a range key. */
export function rangeDates(key, ranges = RANGES) {
  const days = (ranges.find(([k]) => k === key) || ranges[0])[1];
  const to = new Date();
  return [new Date(to.getTime() - days * 86400e3), to];
}

/** A query-string pair for a time. */
export function iso(date) {
  return encodeURIComponent(date.toISOString());
}

/** A key figure: a term and its value, with an optional note. */
export function figure(id, term, value, note) {
  return h('div', { class: 'figure', dataset: { figure: id } },
    h('dt', {}, term), h('dd', {}, value, note ? [' ', h('span', { class: 'muted' }, note)] : null));
}
