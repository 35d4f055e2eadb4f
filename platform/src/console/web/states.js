// Machine states and their colours, from the MES state builder (`GET /machine-states/current`:
// running, idle, down, fault, setup or unknown). Tenants whose plan has no MES, and roles that
// may not read it, see every machine as "state unknown" without a call being made.
//
// Colour is never the only carrier: each badge has a symbol and a word, and a title saying
// since when (in the site's time zone) and the fault code, if any.

import { h } from './dom.js';
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
