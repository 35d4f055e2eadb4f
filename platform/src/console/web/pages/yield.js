// Yield: first-pass yield, rework and scrap by line, product, machine, shift or day over a
// range of production days (the site's own days), drawn as bars with the figures in a table,
// and the Pareto of defect codes over the same days and filter.

import { get } from '../api.js';
import { h, fill, table, errorBox } from '../dom.js';
import { t } from '../i18n.js';
import { plant, withZones } from '../plant.js';
import { barChart } from '../charts.js';
import * as mes from '../mes.js';
import * as fmt from '../format.js';

const BY = ['line', 'product', 'machine', 'shift', 'day'];
const DAYS = [['7d', 7], ['30d', 30], ['90d', 90]];

export async function render(main) {
  const p = await withZones(await plant());
  // Production days are the site's; with several sites, the first one's calendar day.
  const zone = (p.sites.find((s) => s.time_zone) || {}).time_zone;
  const q = mes.query();
  const state = {
    by: BY.includes(q.get('by')) ? q.get('by') : 'line',
    days: DAYS.some(([k]) => k === q.get('days')) ? q.get('days') : '30d',
  };
  const out = h('div', { id: 'yield-report', 'aria-live': 'polite' });
  const change = (key) => (v) => {
    state[key] = v;
    mes.setQuery(state);
    load();
  };
  fill(main,
    h('h1', {}, t('nav.yield')),
    h('p', { class: 'lead' }, t('yield.lead')),
    h('div', { class: 'filters', role: 'group', 'aria-label': t('mes.filters') },
      mes.picker('yield-by', t('yield.by'), BY.map((b) => [b, t(`yield.by.${b}`)]), state.by, change('by')).el,
      mes.picker('yield-days', t('mes.range'), DAYS.map(([k]) => [k, t(`yield.days.${k}`)]), state.days, change('days')).el),
    out);

  let seq = 0;
  async function load() {
    const mine = ++seq;
    const days = DAYS.find(([k]) => k === state.days)[1];
    const from = fmt.localDate(zone, days - 1);
    const to = fmt.localDate(zone, 0);
    out.setAttribute('aria-busy', 'true');
    let figures;
    let pareto;
    try {
      [figures, pareto] = await Promise.all([
        get(`/quality/yield?by=${state.by}&from=${from}&to=${to}`),
        get(`/quality/pareto?from=${from}&to=${to}`),
      ]);
    } catch (e) {
      if (mine === seq) fill(out, errorBox(e));
      out.removeAttribute('aria-busy');
      return;
    }
    if (mine !== seq) return;
    const rows = figures.rows;
    let running = 0;
    fill(out,
      h('p', { class: 'muted' }, t('yield.range', { from, to, zone: fmt.zoneName(zone) })),
      rows.length
        ? [
          barChart({
            id: 'yield-bars', label: t('yield.barsLabel', { by: t(`yield.by.${state.by}`) }), max: 1,
            bars: rows.map((r) => ({ label: r.label, value: r.first_pass_yield || 0, text: fmt.percent(r.first_pass_yield) })),
          }),
          table(t('yield.caption'), [t(`yield.by.${state.by}`), t('yield.units'), t('yield.firstPass'), t('yield.reworked'),
            t('yield.scrapped'), t('yield.fpy'), t('yield.reworkRate'), t('yield.scrapRate'), t('yield.finalYield')],
          rows.map((r) => h('tr', { dataset: { key: r.key } },
            h('th', { scope: 'row' }, r.label),
            h('td', { class: 'num' }, fmt.count(r.units)),
            h('td', { class: 'num' }, fmt.count(r.first_pass)),
            h('td', { class: 'num' }, fmt.count(r.reworked)),
            h('td', { class: 'num' }, fmt.count(r.scrapped)),
            h('td', { class: 'num' }, h('strong', {}, fmt.percent(r.first_pass_yield))),
            h('td', { class: 'num' }, fmt.percent(r.rework_rate)),
            h('td', { class: 'num' }, fmt.percent(r.scrap_rate)),
            h('td', { class: 'num' }, fmt.percent(r.final_yield)))), { class: 'data', id: 'yield-rows' }),
        ]
        : h('p', { class: 'muted' }, t('yield.none')),
      h('h2', { id: 'defects-title' }, t('yield.defects')),
      pareto.bars.length
        ? [
          barChart({
            id: 'defect-pareto', label: t('yield.defectsLabel'),
            cumulative: pareto.bars.map((b) => b.cumulative_share),
            bars: pareto.bars.map((b) => ({ label: b.defect_code, value: b.units, text: `${fmt.count(b.units)} · ${fmt.percent(b.share)}` })),
          }),
          table(t('yield.defectsCaption', { total: fmt.count(pareto.total) }), [t('yield.defectCode'), t('yield.units'), t('downtime.share'), t('chart.cumulative')],
            pareto.bars.map((b) => {
              running += b.units;
              return h('tr', {}, h('th', { scope: 'row' }, b.defect_code), h('td', { class: 'num' }, fmt.count(b.units)),
                h('td', { class: 'num' }, fmt.percent(b.share)), h('td', { class: 'num' }, fmt.percent(b.cumulative_share)));
            }), { class: 'data', id: 'defect-rows' }),
        ]
        : h('p', { class: 'muted' }, t('yield.noDefects')));
    out.removeAttribute('aria-busy');
  }
  await load();
  return undefined;
}
