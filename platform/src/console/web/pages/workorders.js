// Work orders: number, product, machine, state (a word with its colour), due date, and the
// parts produced and rejected in the windows the order ran (from its trace), with times in
// the site's own time zone. Filter by state; the newest first.

import { get } from '../api.js';
import { h, fill, table, errorBox } from '../dom.js';
import { t } from '../i18n.js';
import { plant, siteOf, withZones } from '../plant.js';
import * as mes from '../mes.js';
import * as fmt from '../format.js';

const STATES = ['planned', 'released', 'running', 'completed', 'closed', 'cancelled'];
/** Orders whose counts are fetched (one trace each); older ones show a dash. */
const COUNTED = 50;

/** A work order's state as a word in a coloured outline. */
export function orderState(state) {
  return h('span', { class: `wo-state wo-${state}`, dataset: { state } }, t(`wo.state.${state}`));
}

export async function render(main) {
  const [p, products] = await Promise.all([plant().then(withZones), get('/products')]);
  const product = new Map(products.map((x) => [x.id, x]));
  const q = mes.query();
  const state = { state: STATES.includes(q.get('state')) ? q.get('state') : '' };
  const out = h('div', { id: 'work-orders-list', 'aria-live': 'polite' });
  const pick = mes.picker('wo-state', t('wo.filterState'),
    [['', t('wo.allStates')], ...STATES.map((s) => [s, t(`wo.state.${s}`)])], state.state, (v) => {
      state.state = v;
      mes.setQuery(v ? state : {});
      load();
    });
  fill(main,
    h('h1', {}, t('nav.workOrders')),
    h('p', { class: 'lead' }, t('wo.lead')),
    h('div', { class: 'filters', role: 'group', 'aria-label': t('mes.filters') }, pick.el),
    out);

  let seq = 0;
  async function load() {
    const mine = ++seq;
    out.setAttribute('aria-busy', 'true');
    let orders;
    try {
      orders = await get(`/work-orders${state.state ? `?state=${state.state}` : ''}`);
    } catch (e) {
      fill(out, errorBox(e));
      out.removeAttribute('aria-busy');
      return;
    }
    // Orders that never ran have nothing to count.
    const ran = orders.filter((o) => !['planned', 'released', 'cancelled'].includes(o.state)).slice(0, COUNTED);
    const traces = new Map(await Promise.all(ran.map((o) => get(`/work-orders/${o.id}/trace`)
      .then((tr) => [o.id, tr], () => [o.id, null]))));
    if (mine !== seq) return;
    const rows = orders.map((o) => {
      const machine = p.machine.get(o.machine_id);
      const site = machine && siteOf(p, machine);
      const zone = site && site.time_zone;
      const prod = product.get(o.product_id);
      const tr = traces.get(o.id);
      const pct = tr && o.quantity > 0 ? ` (${fmt.percent(tr.produced / o.quantity, 0)})` : '';
      return h('tr', { dataset: { order: o.id, state: o.state } },
        h('th', { scope: 'row' }, o.number),
        h('td', {}, prod ? `${prod.code} · ${prod.name}` : `#${o.product_id}`),
        h('td', {}, machine ? h('a', { href: `#/machines/${machine.id}` }, machine.name) : `#${o.machine_id}`),
        h('td', {}, orderState(o.state)),
        h('td', { class: 'num' }, fmt.count(o.quantity)),
        h('td', { class: 'num produced' }, tr ? [fmt.count(tr.produced), pct] : '–'),
        h('td', { class: 'num rejected' }, tr ? fmt.count(tr.rejected) : '–'),
        h('td', {}, o.due_at ? fmt.dateTime(o.due_at, zone) : '–'),
        h('td', {}, fmt.dateTime(o.updated_at, zone)));
    });
    fill(out, orders.length
      ? table(t('wo.caption', { count: orders.length }), [t('wo.number'), t('wo.product'), t('wo.machine'), t('wo.state'),
        t('wo.quantity'), t('wo.produced'), t('wo.rejected'), t('wo.due'), t('wo.updated')], rows, { class: 'data', id: 'work-orders' })
      : h('p', { class: 'muted' }, t('wo.none')));
    out.removeAttribute('aria-busy');
  }
  await load();
  return undefined;
}
