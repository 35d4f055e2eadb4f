// Downtime of a line over a range as a Pareto: the itemised stops of every machine of the
// line, summed by reason (the reason assigned, else the category the machine's state
// suggests, else "unexplained"), largest first with the cumulative share, and minor stops as
// one bar. Below, the longest stops with machine, times (site time zone), state and reason.

import { get } from '../api.js';
import { h, fill, table, errorBox } from '../dom.js';
import { t } from '../i18n.js';
import { plant, withZones } from '../plant.js';
import { barChart } from '../charts.js';
import * as mes from '../mes.js';
import * as fmt from '../format.js';

const RANGES = [['1d', 1], ['7d', 7], ['30d', 30]];
const LONGEST = 20;

export async function render(main) {
  const p = await withZones(await plant());
  const lines = mes.lineOptions(p);
  const q = mes.query();
  const state = {
    line: lines.some(([id]) => id === q.get('line')) ? q.get('line') : (lines[0] || [''])[0],
    range: q.get('range') || '7d',
  };
  const reasons = new Map((await get('/reason-codes')).map((r) => [r.id, r]));
  const out = h('div', { id: 'downtime-report', 'aria-live': 'polite' });
  const change = (key) => (v) => {
    state[key] = v;
    mes.setQuery(state);
    load();
  };
  fill(main,
    h('h1', {}, t('nav.downtime')),
    h('p', { class: 'lead' }, t('downtime.lead')),
    h('div', { class: 'filters', role: 'group', 'aria-label': t('mes.filters') },
      mes.picker('downtime-line', t('mes.line'), lines, state.line, change('line')).el,
      mes.picker('downtime-range', t('mes.range'), mes.rangeOptions(RANGES), state.range, change('range')).el),
    out);

  const reasonOf = (seg) => {
    if (seg.reason_id !== null && seg.reason_id !== undefined) {
      const r = reasons.get(seg.reason_id);
      return { key: `r${seg.reason_id}`, label: r ? `${r.code} · ${r.name}` : `#${seg.reason_id}` };
    }
    if (seg.category) return { key: `c:${seg.category}`, label: t('downtime.suggested', { category: t(`category.${seg.category}`) }) };
    return { key: 'none', label: t('downtime.unexplained') };
  };

  let seq = 0;
  async function load() {
    const mine = ++seq;
    const machines = p.machines.filter((m) => String(m.line_id) === state.line)
      .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    if (!machines.length) {
      fill(out, h('p', { class: 'muted' }, t('mes.noMachines')));
      return;
    }
    const line = p.line.get(Number(state.line));
    const site = line && p.site.get(line.site_id);
    const zone = site && site.time_zone;
    const [from, to] = mes.rangeDates(state.range, RANGES);
    out.setAttribute('aria-busy', 'true');
    let answers;
    try {
      answers = await Promise.all(machines.map((m) => get(`/machines/${m.id}/downtime?from=${mes.iso(from)}&to=${mes.iso(to)}`)));
    } catch (e) {
      if (mine === seq) fill(out, errorBox(e));
      out.removeAttribute('aria-busy');
      return;
    }
    if (mine !== seq) return;
    const byReason = new Map();
    const add = (key, label, secs) => {
      const cur = byReason.get(key) || { label, secs: 0, stops: 0 };
      cur.secs += secs;
      cur.stops += 1;
      byReason.set(key, cur);
    };
    const events = [];
    let minor = { count: 0, secs: 0 };
    answers.forEach((a, i) => {
      minor = { count: minor.count + a.minor.count, secs: minor.secs + a.minor.secs };
      for (const e of a.events) {
        const secs = (Date.parse(e.span.end) - Date.parse(e.span.start)) / 1000;
        events.push({ machine: machines[i], e, secs });
        for (const seg of e.segments) {
          const r = reasonOf(seg);
          add(r.key, r.label, (Date.parse(seg.span.end) - Date.parse(seg.span.start)) / 1000);
        }
      }
    });
    if (minor.count) byReason.set('minor', { label: t('downtime.minor'), secs: minor.secs, stops: minor.count });
    const bars = [...byReason.values()].sort((a, b) => b.secs - a.secs);
    const total = bars.reduce((n, b) => n + b.secs, 0);
    let running = 0;
    const cumulative = bars.map((b) => {
      running += b.secs;
      return total > 0 ? running / total : 0;
    });
    events.sort((a, b) => b.secs - a.secs);
    fill(out,
      h('p', { class: 'muted' }, t('downtime.range', {
        from: fmt.dateTime(from, zone), to: fmt.dateTime(to, zone), zone: fmt.zoneName(zone),
        machines: machines.length, total: fmt.duration(total),
      })),
      bars.length
        ? [
          barChart({
            id: 'downtime-pareto', label: t('downtime.paretoLabel'), cumulative,
            bars: bars.map((b) => ({ label: b.label, value: b.secs, text: `${fmt.duration(b.secs)} · ${t('downtime.stops', { count: b.stops })}` })),
          }),
          table(t('downtime.paretoCaption'), [t('downtime.reason'), t('downtime.time'), t('downtime.stopCount'), t('downtime.share'), t('chart.cumulative')],
            bars.map((b, i) => h('tr', {}, h('th', { scope: 'row' }, b.label), h('td', { class: 'num' }, fmt.duration(b.secs)),
              h('td', { class: 'num' }, fmt.count(b.stops)), h('td', { class: 'num' }, fmt.percent(total ? b.secs / total : 0)),
              h('td', { class: 'num' }, fmt.percent(cumulative[i])))), { class: 'data', id: 'downtime-reasons' }),
        ]
        : h('p', { class: 'muted' }, t('downtime.none')),
      events.length
        ? [h('h2', {}, t('downtime.longest')),
          table(t('downtime.longestCaption', { zone: fmt.zoneName(zone) }),
            [t('downtime.machine'), t('downtime.start'), t('downtime.time'), t('downtime.state'), t('downtime.reason')],
            events.slice(0, LONGEST).map(({ machine, e, secs }) => h('tr', {},
              h('td', {}, h('a', { href: `#/machines/${machine.id}` }, machine.name)),
              h('td', {}, fmt.dateTime(e.span.start, zone)),
              h('td', { class: 'num' }, fmt.duration(secs)),
              h('td', {}, t(`state.${e.state}`), e.code ? ` (${t('state.code', { code: e.code })})` : ''),
              h('td', {}, e.segments.map((s) => reasonOf(s).label).join(' / ')))), { class: 'data', id: 'downtime-events' })]
        : null);
    out.removeAttribute('aria-busy');
  }
  await load();
  return undefined;
}
