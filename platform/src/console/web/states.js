// Machine states and their colours. The states API (running, idle, down, setup: issue #13's
// MES core) is not in this build yet, so every machine shows "state unknown"; the badge,
// its colours and its place on each tile are ready. When the API lands, `machineStates`
// fetches it and nothing else changes.
//
// Colour is never the only carrier: each badge has a symbol and a word.

import { h } from './dom.js';
import { t } from './i18n.js';

/** States the badge knows, with their symbols. */
export const STATES = {
  running: '▶',
  idle: '❚❚',
  setup: '⚙',
  down: '■',
  unknown: '?',
};

/** The state of each machine (a Map of id → state name). */
export async function machineStates(machineIds) {
  return new Map(machineIds.map((id) => [id, 'unknown']));
}

/** The badge for a state. */
export function stateBadge(state) {
  const name = state in STATES ? state : 'unknown';
  return h('span', { class: `state state-${name}`, dataset: { state: name } },
    h('span', { 'aria-hidden': 'true', class: 'state-symbol' }, STATES[name]), ' ',
    t(`state.${name}`));
}
