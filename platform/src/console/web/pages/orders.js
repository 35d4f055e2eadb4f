// Custom orders board (issue #14): one column per state with the order count from
// `GET /orders/board`, a card per order (newest 200 from `GET /orders`); a card opens the
// order's timeline (`GET /orders/{id}/timeline`), whose times the server gives in the
// shipping site's own time zone (`at_local`). Below: each line's open steps and booked hours.

import { get } from '../api.js';
import { h, fill, table, errorBox } from '../dom.js';
import { t } from '../i18n.js';
import * as fmt from '../format.js';

export const STATES = ['draft', 'quoted', 'confirmed', 'scheduled', 'in_production',
  'quality_check', 'shipped', 'delivered', 'cancelled', 'rejected'];
const CARDS = 200;

function money(minor, currency) {
  if (minor == null) return '–';
  return `${(minor / 100).toFixed(2)} ${currency}`;
}

export async function render(main) {
  const [board, orders] = await Promise.all([get('/orders/board'), get(`/orders?limit=${CARDS}`)]);
  const detail = h('section', { id: 'order-timeline', 'aria-live': 'polite' });
  let seq = 0;
  async function open(o, card) {
    const mine = ++seq;
    for (const c of main.querySelectorAll('.order-card[aria-pressed="true"]')) c.setAttribute('aria-pressed', 'false');
    card.setAttribute('aria-pressed', 'true');
    detail.setAttribute('aria-busy', 'true');
    let entries;
    try {
      entries = await get(`/orders/${o.id}/timeline`);
    } catch (e) {
      if (mine === seq) { fill(detail, errorBox(e)); detail.removeAttribute('aria-busy'); }
      return;
    }
    if (mine !== seq) return;
    fill(detail,
      h('h2', {}, t('orders.timeline', { number: o.number })),
      h('ol', { class: 'timeline' }, entries.map((e) => h('li', { dataset: { state: e.state } },
        h('time', { datetime: e.at }, e.at_local), ' ',
        h('span', { class: `order-state order-${e.state}` }, t(`orders.state.${e.state}`)),
        e.note ? h('span', { class: 'muted' }, ` — ${e.note}`) : null))));
    detail.removeAttribute('aria-busy');
  }
  const columns = STATES.map((state) => {
    const mine = orders.filter((o) => o.state === state);
    const total = board.states[state] || 0;
    const more = total > mine.length ? h('li', { class: 'muted' }, t('orders.more', { count: total - mine.length })) : null;
    return h('section', { class: 'order-column', dataset: { state }, 'aria-label': t(`orders.state.${state}`) },
      h('h2', {}, t(`orders.state.${state}`), ' ', h('span', { class: 'count' }, fmt.count(total))),
      h('ul', {}, mine.map((o) => {
        const card = h('button', { type: 'button', class: 'order-card', 'aria-pressed': 'false', dataset: { order: o.id } },
          h('strong', {}, o.number), h('span', {}, `${o.template_code} × ${fmt.count(o.quantity)}`),
          h('span', {}, money(o.total_minor, o.currency)),
          h('span', { class: 'muted' }, o.promised_ship_date ? t('orders.ships', { date: o.promised_ship_date }) : ''));
        card.addEventListener('click', () => open(o, card));
        return h('li', {}, card);
      }), more));
  });
  const lines = board.lines.map((l) => h('tr', { dataset: { line: l.line_id } },
    h('th', { scope: 'row' }, l.name),
    h('td', { class: 'num' }, fmt.count(l.open_steps)),
    h('td', { class: 'num' }, l.booked_hours.toFixed(1))));
  fill(main,
    h('h1', {}, t('nav.orders')),
    h('p', { class: 'lead' }, t('orders.lead')),
    h('div', { class: 'order-board', id: 'order-board' }, columns),
    detail,
    lines.length
      ? table(t('orders.linesCaption'), [t('orders.line'), t('orders.openSteps'), t('orders.bookedHours')], lines, { class: 'data', id: 'order-lines' })
      : null);
  return undefined;
}
