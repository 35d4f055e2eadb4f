// Alarms: open ones needing acknowledgement, open ones already acknowledged, and history
// (cleared). Acknowledging moves an alarm from the first table to the second; shelving hides
// an open alarm's notifications for an hour (it stays listed, marked shelved). Rule alarms
// show their severity and message.

import { get, call } from '../api.js';
import { h, fill, table, errorBox, announce } from '../dom.js';
import { t } from '../i18n.js';
import { plant, siteOf } from '../plant.js';
import * as fmt from '../format.js';
import { severityBadge } from './rules.js';

const REFRESH_MS = 15000;

/** A table of alarms with an acknowledge button where the caller may acknowledge. */
export function alarmTable(alarms, p, ctx, { caption, onChange, zone, id }) {
  const headers = [t('alarms.machine'), t('alarms.kind'), t('alarms.raised'), t('alarms.value'),
    t('alarms.status'), t('alarms.action')];
  const rows = alarms.map((a) => {
    const machine = p.machine.get(a.machine_id);
    const name = machine ? machine.name : `#${a.machine_id}`;
    const site = machine && siteOf(p, machine);
    const tz = zone || (site && site.time_zone);
    const status = [];
    if (a.cleared_at) status.push(t('alarms.clearedAt', { time: fmt.dateTime(a.cleared_at, tz) }));
    else status.push(h('strong', {}, t('alarms.open')));
    if (a.acknowledged_at) {
      status.push(h('br'), t('alarms.ackedBy', { by: a.acknowledged_by || '', time: fmt.dateTime(a.acknowledged_at, tz) }));
    }
    const shelved = a.shelved_until && Date.parse(a.shelved_until) > Date.now();
    if (shelved) {
      status.push(h('br'), h('span', { class: 'shelved' }, h('span', { 'aria-hidden': 'true' }, '⏸ '),
        t('alarms.shelvedUntil', { time: fmt.dateTime(a.shelved_until, tz), by: a.shelved_by || '' })));
    }
    const action = [];
    const error = h('span', {});
    // Shelving (for an hour) and unshelving: open alarms, for those who may acknowledge.
    if (!a.cleared_at && ctx.can('acknowledge_alarms')) {
      action.push(h('button', {
        type: 'button', class: shelved ? 'unshelve' : 'shelve', dataset: { alarm: a.id },
        'aria-label': shelved ? t('alarms.unshelveLabel', { id: a.id, machine: name }) : t('alarms.shelveLabel', { id: a.id, machine: name }),
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            await call('POST', `/alarms/${a.id}/shelve`, { for_secs: shelved ? 0 : 3600 });
            announce(shelved ? t('alarms.unshelved', { id: a.id, machine: name }) : t('alarms.shelved', { id: a.id, machine: name }));
            await onChange();
          } catch (err) {
            e.target.disabled = false;
            fill(error, errorBox(err));
          }
        },
      }, shelved ? t('alarms.unshelve') : t('alarms.shelve')), ' ');
    }
    if (!a.acknowledged_at && ctx.can('acknowledge_alarms')) {
      action.push(h('button', {
        type: 'button', class: 'ack', dataset: { alarm: a.id },
        'aria-label': t('alarms.ackLabel', { id: a.id, machine: name }),
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            await call('POST', `/alarms/${a.id}/ack`);
            announce(t('alarms.acked', { id: a.id, machine: name }));
            await onChange();
          } catch (err) {
            e.target.disabled = false;
            fill(error, errorBox(err));
          }
        },
      }, t('alarms.ack')));
    }
    action.push(error);
    return h('tr', { dataset: { alarm: a.id }, class: a.cleared_at ? 'cleared' : 'open' },
      h('td', {}, machine ? h('a', { href: `#/machines/${a.machine_id}` }, name) : name),
      h('td', {}, t(`alarm.kind.${a.kind}`), a.severity ? [' ', severityBadge(a.severity)] : null,
        a.message ? [h('br'), h('span', { class: 'muted' }, a.message)] : null),
      h('td', {}, fmt.dateTime(a.raised_at, tz)),
      h('td', {}, t('alarms.valueVsThreshold', { value: fmt.value(a.value), threshold: fmt.value(a.threshold) })),
      h('td', {}, status),
      h('td', {}, action));
  });
  return table(caption, headers, rows, { class: 'data alarms', id });
}

export async function render(main, ctx) {
  const p = await plant();
  const unacked = h('div', { id: 'unacked' });
  const acked = h('div', { id: 'acked' });
  const history = h('div', { id: 'history' });
  fill(main,
    h('h1', {}, t('nav.alarms')),
    h('section', { 'aria-labelledby': 'unacked-title' }, h('h2', { id: 'unacked-title' }, t('alarms.unacked')), unacked),
    h('section', { 'aria-labelledby': 'acked-title' }, h('h2', { id: 'acked-title' }, t('alarms.acknowledged')), acked),
    h('section', { 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, t('alarms.history')), history));

  let shown = '';
  const refresh = async () => {
    const [open, cleared] = await Promise.all([
      get('/alarms?state=open&limit=1000'),
      get('/alarms?state=cleared&limit=100'),
    ]);
    // Redraw only on change, so a periodic refresh does not take keyboard focus away.
    const signature = JSON.stringify([open, cleared]);
    if (signature === shown) return;
    shown = signature;
    const list = (alarms, id, empty) => (alarms.length
      ? alarmTable(alarms, p, ctx, { onChange: refresh, id })
      : h('p', { class: 'muted', id }, empty));
    fill(unacked, list(open.filter((a) => !a.acknowledged_at), 'alarms-unacked', t('alarms.noneUnacked')));
    fill(acked, list(open.filter((a) => a.acknowledged_at), 'alarms-acked', t('alarms.noneAcked')));
    fill(history, list(cleared, 'alarms-history', t('alarms.noneHistory')));
  };
  try {
    await refresh();
  } catch (e) {
    main.append(errorBox(e));
  }
  const timer = setInterval(() => refresh().catch(() => {}), REFRESH_MS);
  return () => clearInterval(timer);
}
