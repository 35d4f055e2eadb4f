// The plant at a glance: site → line → machine tiles with each machine's state, open alarms,
// a few live values and its models' latest predictions, refreshed every few seconds without
// reloading the page.

import { get } from '../api.js';
import { h, fill, announce } from '../dom.js';
import { t } from '../i18n.js';
import { plant, latest, shortName, siteOf, withZones } from '../plant.js';
import { machineStates, stateBadge } from '../states.js';
import * as fmt from '../format.js';

const VALUES_PER_TILE = 3;
const VALUES_EVERY_MS = 5000;
const ALARMS_EVERY_MS = 15000;

function byName(a, b) {
  return a.name.localeCompare(b.name, undefined, { numeric: true });
}

export async function render(main, ctx) {
  const p = await plant();
  performance.mark('mw:overview-plant');
  const machines = [...p.machines].sort(byName);
  // States and the sites' time zones load beside the values and alarms (below); until then
  // the badges say "state unknown", and the page is ready only once they are in.
  const readStates = ctx.can('read_mes');
  const states = await machineStates(machines.map((m) => m.id), false);
  const zoneOf = (site) => site && site.time_zone;
  const cells = new Map();
  const alarmSlots = new Map();
  const stateSlots = new Map();
  const shown = [];

  const tile = (machine) => {
    const site = siteOf(p, machine);
    const values = machine.tags.slice(0, VALUES_PER_TILE);
    const predictions = machine.predictions.slice(0, VALUES_PER_TILE);
    const pair = (tag, kind) => {
      const dd = h('dd', { class: 'value', dataset: { tag: tag.id } }, '–');
      cells.set(tag.id, { dd, tag, site });
      shown.push(tag.id);
      return [h('dt', { class: kind }, shortName(tag, machine)), dd];
    };
    const alarmSlot = h('span', { class: 'alarm-slot' });
    alarmSlots.set(machine.id, alarmSlot);
    const state = states.get(machine.id);
    const stateSlot = h('span', { class: 'state-slot' }, stateBadge(state, zoneOf(site)));
    stateSlots.set(machine.id, { slot: stateSlot, site });
    return h('li', { class: 'tile', dataset: { machine: machine.id, name: machine.name, state: state.state } },
      h('h4', {}, h('a', { href: `#/machines/${machine.id}` }, machine.name)),
      h('p', { class: 'kind' }, machine.kind || ''),
      h('p', { class: 'badges' }, stateSlot, alarmSlot),
      values.length ? h('dl', { class: 'values' }, values.map((tag) => pair(tag, 'measured'))) : null,
      predictions.length
        ? h('dl', { class: 'values predictions', 'aria-label': t('overview.predictions') },
          predictions.map((tag) => pair(tag, 'prediction')))
        : null);
  };

  const sections = [...p.sites].sort(byName).map((site) => {
    const lines = p.lines.filter((l) => l.site_id === site.id).sort(byName);
    return h('section', { class: 'site', 'aria-labelledby': `site-${site.id}` },
      h('h2', { id: `site-${site.id}` }, site.name),
      lines.map((line) => {
        const here = machines.filter((m) => m.line_id === line.id);
        return h('section', { class: 'line', 'aria-labelledby': `line-${line.id}` },
          h('h3', { id: `line-${line.id}` }, line.name, ' ',
            h('span', { class: 'muted' }, t('overview.machineCount', { count: here.length }))),
          here.length ? h('ul', { class: 'tiles' }, here.map(tile)) : h('p', { class: 'muted' }, t('overview.noMachines')));
      }));
  });

  const updated = h('p', { class: 'updated muted', 'aria-live': 'off' });
  const filter = h('input', {
    type: 'search', id: 'machine-filter',
    oninput: () => {
      const needle = filter.value.trim().toLowerCase();
      for (const li of main.querySelectorAll('.tile')) {
        li.hidden = needle !== '' && !li.dataset.name.toLowerCase().includes(needle);
      }
    },
  });
  fill(main,
    h('h1', {}, t('nav.overview')),
    h('p', { class: 'lead' }, t('overview.summary', {
      sites: p.sites.length, lines: p.lines.length, machines: machines.length,
    })),
    h('p', { class: 'filter' }, h('label', { for: 'machine-filter' }, t('overview.filter')), ' ', filter),
    updated,
    machines.length ? sections : h('p', { class: 'notice' }, t('overview.empty')));

  const refreshValues = async () => {
    const values = await latest(shown);
    for (const [id, { dd, tag, site }] of cells) {
      const zone = zoneOf(site);
      const sample = values.get(id);
      const text = sample ? fmt.value(sample.value, tag.unit) : '–';
      if (dd.textContent !== text) dd.textContent = text;
      dd.title = sample ? fmt.dateTime(sample.time, zone) : t('overview.noData');
      dd.classList.toggle('bad', Boolean(sample && sample.quality !== 'good'));
    }
    fill(updated, t('overview.updated', { time: fmt.dateTime(new Date()) }));
  };
  const refreshStates = async () => {
    if (!readStates) return;
    const [now] = await Promise.all([machineStates(machines.map((m) => m.id), readStates), withZones(p)]);
    for (const [id, { slot, site }] of stateSlots) {
      const zone = zoneOf(site);
      const state = now.get(id);
      const shown = slot.firstChild;
      if (!shown || shown.dataset.state !== state.state || shown.title !== stateBadge(state, zone).title) {
        fill(slot, stateBadge(state, zone));
        slot.closest('.tile').dataset.state = state.state;
      }
    }
  };
  const refreshAlarms = async () => {
    const [, open] = await Promise.all([
      refreshStates(),
      ctx.can('read_alarms') ? get('/alarms?state=open&limit=1000') : null,
    ]);
    if (!open) return;
    const counts = new Map();
    for (const a of open) counts.set(a.machine_id, (counts.get(a.machine_id) || 0) + 1);
    for (const [id, slot] of alarmSlots) {
      const n = counts.get(id) || 0;
      slot.closest('.tile').classList.toggle('alarmed', n > 0);
      fill(slot, n > 0
        ? h('span', { class: 'alarm-badge' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), t('overview.openAlarms', { count: n }))
        : null);
    }
  };

  performance.mark('mw:overview-built');
  await Promise.all([shown.length ? refreshValues() : null, refreshAlarms()]);
  performance.mark('mw:overview-ready');
  main.dataset.values = String(shown.length);

  let failing = false;
  const guard = (fn) => async () => {
    try {
      await fn();
      failing = false;
    } catch (e) {
      if (!failing) announce(t('overview.refreshFailed', { detail: e.detail || String(e) }));
      failing = true;
    }
  };
  const timers = [
    setInterval(guard(refreshValues), VALUES_EVERY_MS),
    setInterval(guard(refreshAlarms), ALARMS_EVERY_MS),
  ];
  return () => timers.forEach(clearInterval);
}
