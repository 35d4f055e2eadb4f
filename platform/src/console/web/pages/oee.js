// OEE of a line by shift (or day) over a range: the figure with its three factors
// (availability, performance, quality), the six big losses as a bar chart, and a row per shift
// with its local times in the site's own time zone (the report's `time_zone`).

import { get } from '../api.js';
import { h, fill, table, errorBox } from '../dom.js';
import { t } from '../i18n.js';
import { plant } from '../plant.js';
import { barChart } from '../charts.js';
import * as mes from '../mes.js';
import * as fmt from '../format.js';

const LOSSES = ['unplanned_stops', 'planned_stops', 'small_stops', 'slow_cycles', 'production_rejects', 'startup_rejects'];

export async function render(main) {
  const p = await plant();
  const lines = mes.lineOptions(p);
  const q = mes.query();
  const state = {
    line: lines.some(([id]) => id === q.get('line')) ? q.get('line') : (lines[0] || [''])[0],
    range: q.get('range') || '7d',
    group: q.get('group') === 'day' ? 'day' : 'shift',
  };
  const out = h('div', { id: 'oee-report', 'aria-live': 'polite' });
  const change = (key) => (v) => {
    state[key] = v;
    mes.setQuery(state);
    load();
  };
  const linePick = mes.picker('oee-line', t('mes.line'), lines, state.line, change('line'));
  const rangePick = mes.picker('oee-range', t('mes.range'), mes.rangeOptions(), state.range, change('range'));
  const groupPick = mes.picker('oee-group', t('oee.group'), [['shift', t('oee.byShift')], ['day', t('oee.byDay')]], state.group, change('group'));
  fill(main,
    h('h1', {}, t('nav.oee')),
    h('p', { class: 'lead' }, t('oee.lead')),
    h('div', { class: 'filters', role: 'group', 'aria-label': t('mes.filters') }, linePick.el, rangePick.el, groupPick.el),
    out);

  let seq = 0;
  async function load() {
    const mine = ++seq;
    if (!state.line) {
      fill(out, h('p', { class: 'muted' }, t('mes.noLines')));
      return;
    }
    out.setAttribute('aria-busy', 'true');
    const [from, to] = mes.rangeDates(state.range);
    let report;
    try {
      report = await get(`/oee?line=${state.line}&from=${mes.iso(from)}&to=${mes.iso(to)}&group=${state.group}`);
    } catch (e) {
      if (mine === seq) fill(out, errorBox(e));
      out.removeAttribute('aria-busy');
      return;
    }
    if (mine !== seq) return;
    const zone = report.time_zone;
    const total = report.total;
    const lossBars = LOSSES.map((key) => ({
      label: t(`oee.loss.${key}`), value: total.losses[key] || 0, text: fmt.duration(total.losses[key] || 0),
    }));
    const rows = report.rows.map((r) => h('tr', { dataset: { key: r.key } },
      h('th', { scope: 'row' }, r.shift ? `${r.day} · ${r.shift}` : r.key),
      h('td', {}, fmt.dateTime(r.start, zone), ' – ', fmt.dateTime(r.end, zone)),
      h('td', { class: 'num' }, fmt.percent(r.oee.availability)),
      h('td', { class: 'num' }, fmt.percent(r.oee.performance)),
      h('td', { class: 'num' }, fmt.percent(r.oee.quality)),
      h('td', { class: 'num' }, h('strong', {}, fmt.percent(r.oee.oee))),
      h('td', { class: 'num' }, fmt.count(r.oee.produced)),
      h('td', { class: 'num' }, fmt.count(r.oee.rejected)),
      h('td', { class: 'num' }, fmt.duration(r.oee.downtime_secs))));
    fill(out,
      h('p', { class: 'muted' }, t('oee.range', {
        from: fmt.dateTime(report.from, zone), to: fmt.dateTime(report.to, zone), zone, machines: report.machines.length,
      })),
      h('dl', { class: 'figures', id: 'oee-total' },
        mes.figure('oee', t('oee.oee'), fmt.percent(total.oee)),
        mes.figure('availability', t('oee.availability'), fmt.percent(total.availability),
          t('oee.availabilityNote', { run: fmt.duration(total.run_secs), planned: fmt.duration(total.planned_secs) })),
        mes.figure('performance', t('oee.performance'), fmt.percent(total.performance)),
        mes.figure('quality', t('oee.quality'), fmt.percent(total.quality),
          t('oee.qualityNote', { good: fmt.count(total.good), produced: fmt.count(total.produced) }))),
      h('h2', { id: 'losses-title' }, t('oee.losses')),
      barChart({ id: 'oee-losses', label: t('oee.lossesLabel'), bars: lossBars }),
      h('h2', { id: 'oee-rows-title' }, state.group === 'day' ? t('oee.days') : t('oee.shifts')),
      report.rows.length
        ? table(t('oee.rowsCaption', { zone }), [state.group === 'day' ? t('oee.day') : t('oee.shift'), t('oee.window'),
          t('oee.availability'), t('oee.performance'), t('oee.quality'), t('oee.oee'), t('oee.produced'), t('oee.rejected'),
          t('oee.downtime')], rows, { class: 'data', id: 'oee-rows' })
        : h('p', { class: 'muted' }, t('oee.noRows')));
    out.removeAttribute('aria-busy');
  }
  await load();
  return undefined;
}
