// One machine: its place in the plant, its state, live values of every tag, a trend of the
// chosen tags with zoom and pan, its models' predictions on the same time axis, its alarms
// and its events (failures, repairs, maintenance), which operators may record here.

import { get, call } from '../api.js';
import { h, fill, table, field, errorBox, announce } from '../dom.js';
import { t } from '../i18n.js';
import { plant, latest, shortName, siteOf, withZones } from '../plant.js';
import { machineStates, stateBadge, StateBand } from '../states.js';
import { TimeRange, Trend, rangeToolbar } from '../trend.js';
import { alarmTable } from './alarms.js';
import * as fmt from '../format.js';

const VALUES_EVERY_MS = 5000;
const LIVE_EVERY_MS = 15000;
const FIRST_TAGS = 2;

export async function render(main, ctx) {
  const p = await plant();
  const id = Number(ctx.params.id);
  const machine = p.machine.get(id);
  if (!machine) {
    fill(main, h('h1', {}, t('machine.missing')), h('p', {}, h('a', { href: '#/' }, t('nav.overview'))));
    return undefined;
  }
  if (ctx.can('read_mes')) await withZones(p);
  const line = p.line.get(machine.line_id);
  const site = siteOf(p, machine);
  const zone = site && site.time_zone;
  const states = await machineStates([id], ctx.can('read_mes'));
  const range = new TimeRange(24 * 3600e3);
  const toolbar = rangeToolbar(range, zone);
  const trend = new Trend(range, { label: t('machine.trendLabel', { machine: machine.name }), timeZone: zone, empty: t('machine.chooseTags') });
  const predictionTrend = machine.predictions.length
    ? new Trend(range, { label: t('machine.predictionLabel', { machine: machine.name }), timeZone: zone })
    : null;
  const band = ctx.can('read_mes')
    ? new StateBand(range, id, {
      timeZone: zone,
      label: t('machine.statesLabel', { machine: machine.name }),
      plotArea: () => trend.chart.querySelector('.u-over'),
    })
    : null;
  const label = (tag) => ({ id: tag.id, label: shortName(tag, machine), unit: tag.unit });

  // Tag table: live values, and a box per tag to put it on the trend.
  const cells = new Map();
  // Text tags (program, recipe) have no trend: their values are not numbers.
  const numeric = (tag) => tag.value_type !== 'text';
  const chosen = new Set(machine.tags.filter(numeric).slice(0, FIRST_TAGS).map((tag) => tag.id));
  const redraw = () => trend.setTags(machine.tags.filter((tag) => chosen.has(tag.id)).map(label));
  const row = (tag, selectable) => {
    const valueCell = h('td', { class: 'value' }, '–');
    const timeCell = h('td', { class: 'muted' }, '');
    cells.set(tag.id, { valueCell, timeCell, tag });
    const name = shortName(tag, machine);
    const box = selectable
      ? h('input', {
        type: 'checkbox', id: `show-${tag.id}`, checked: chosen.has(tag.id), dataset: { tag: tag.id },
        onchange: (e) => {
          if (e.target.checked) chosen.add(tag.id); else chosen.delete(tag.id);
          redraw();
        },
      })
      : null;
    return h('tr', { dataset: { tag: tag.id } },
      h('td', {}, box, ' ', selectable ? h('label', { for: `show-${tag.id}` }, name) : name),
      valueCell, timeCell, h('td', { class: 'muted' }, tag.description || ''));
  };
  const headers = [t('machine.tag'), t('machine.value'), t('machine.updated'), t('machine.description')];

  const alarmsBox = h('div', {});
  const eventsBox = h('div', {});
  fill(main,
    h('nav', { 'aria-label': t('machine.breadcrumb'), class: 'breadcrumb' },
      h('a', { href: '#/' }, t('nav.overview')), ' › ', site ? site.name : '', ' › ', line ? line.name : ''),
    h('h1', {}, machine.name, ' ', h('span', { class: 'state-slot' }, stateBadge(states.get(id), zone))),
    h('p', { class: 'lead' }, machine.kind ? t('machine.kind', { kind: machine.kind }) : '', ' ', machine.description || ''),
    h('section', { 'aria-labelledby': 'trend-title' },
      h('h2', { id: 'trend-title' }, t('machine.trend')),
      toolbar.el,
      trend.el,
      band ? [h('h3', { id: 'states-title' }, t('machine.states')), band.el] : null),
    predictionTrend
      ? h('section', { 'aria-labelledby': 'predictions-title', class: 'predictions' },
        h('h2', { id: 'predictions-title' }, t('machine.predictions')),
        h('p', { class: 'muted' }, t('machine.predictionsLead')),
        predictionTrend.el,
        table(null, headers, machine.predictions.map((tag) => row(tag, false)), { class: 'data' }))
      : h('section', { class: 'predictions' }, h('h2', {}, t('machine.predictions')),
        h('p', { class: 'muted' }, t('machine.noPredictions'))),
    h('section', { 'aria-labelledby': 'tags-title' },
      h('h2', { id: 'tags-title' }, t('machine.tags')),
      machine.tags.length
        ? table(t('machine.tagsCaption'), headers, machine.tags.map((tag) => row(tag, numeric(tag))), { class: 'data' })
        : h('p', { class: 'muted' }, t('machine.noTags'))),
    ctx.can('read_alarms') ? h('section', { 'aria-labelledby': 'alarms-title' },
      h('h2', { id: 'alarms-title' }, t('nav.alarms')), alarmsBox) : null,
    h('section', { 'aria-labelledby': 'events-title' },
      h('h2', { id: 'events-title' }, t('machine.events')), eventsBox));

  const refreshValues = async () => {
    const ids = [...cells.keys()];
    if (!ids.length) return;
    const values = await latest(ids);
    for (const [tagId, { valueCell, timeCell, tag }] of cells) {
      const sample = values.get(tagId);
      valueCell.textContent = sample ? fmt.value(sample.value, tag.unit) : '–';
      timeCell.textContent = sample ? fmt.dateTime(sample.time, zone) : '';
      valueCell.classList.toggle('bad', Boolean(sample && sample.quality !== 'good'));
    }
  };
  let alarmsShown = '';
  const refreshAlarms = async () => {
    if (!ctx.can('read_alarms')) return;
    const alarms = await get(`/alarms?machine_id=${id}&limit=20`);
    const signature = JSON.stringify(alarms);
    if (signature === alarmsShown) return;
    alarmsShown = signature;
    fill(alarmsBox, alarms.length
      ? alarmTable(alarms, p, ctx, { caption: t('machine.recentAlarms'), onChange: refreshAlarms, zone })
      : h('p', { class: 'muted' }, t('alarms.none')));
  };
  const refreshEvents = async () => {
    const since = new Date(Date.now() - 90 * 86400e3).toISOString();
    const events = (await get(`/machines/${id}/events?from=${encodeURIComponent(since)}`)).reverse().slice(0, 50);
    fill(eventsBox,
      events.length
        ? table(t('machine.eventsCaption'), [t('event.at'), t('event.kind'), t('event.code'), t('event.note')],
          events.map((e) => h('tr', {}, h('td', {}, fmt.dateTime(e.at, zone)), h('td', {}, t(`event.kind.${e.kind}`)),
            h('td', {}, e.code), h('td', {}, e.note))), { class: 'data' })
        : h('p', { class: 'muted' }, t('machine.noEvents')),
      ctx.can('record_machine_events') ? eventForm(id, refreshEvents) : null);
  };

  await Promise.all([redraw(), band && band.reload(), predictionTrend && predictionTrend.setTags(machine.predictions.map(label)),
    refreshValues(), refreshAlarms(), refreshEvents()]);
  if (band) band.align();
  const timers = [
    setInterval(() => refreshValues().catch(() => {}), VALUES_EVERY_MS),
    setInterval(() => refreshAlarms().catch(() => {}), LIVE_EVERY_MS),
    setInterval(() => { if (range.live) range.follow(); }, LIVE_EVERY_MS),
  ];
  return () => {
    timers.forEach(clearInterval);
    toolbar.destroy();
    trend.destroy();
    if (band) band.destroy();
    if (predictionTrend) predictionTrend.destroy();
  };
}

function eventForm(machineId, onSaved) {
  const kind = h('select', { id: 'event-kind', required: true },
    ['failure', 'repair', 'maintenance'].map((k) => h('option', { value: k }, t(`event.kind.${k}`))));
  const code = h('input', { id: 'event-code', maxlength: '200' });
  const note = h('input', { id: 'event-note', maxlength: '2000' });
  const status = h('div', {});
  return h('form', {
    class: 'inline-form',
    'aria-labelledby': 'event-form-title',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await call('POST', `/machines/${machineId}/events`, {
          kind: kind.value, at: new Date().toISOString(), code: code.value, note: note.value,
        });
        code.value = '';
        note.value = '';
        fill(status);
        announce(t('event.saved'));
        await onSaved();
      } catch (err) {
        fill(status, errorBox(err));
      }
    },
  },
  h('h3', { id: 'event-form-title' }, t('event.record')),
  field(t('event.kind'), kind), field(t('event.code'), code), field(t('event.note'), note),
  h('button', { type: 'submit' }, t('event.save')), status);
}
