// Consumption against the plan: tags, samples today and requests in the last minute, each as
// a meter with its numbers written out.

import { get } from '../api.js';
import { h, fill } from '../dom.js';
import { t } from '../i18n.js';
import * as fmt from '../format.js';

function meter(id, label, used, limit) {
  const share = limit > 0 ? Math.round((100 * used) / limit) : 0;
  return h('div', { class: 'meter', dataset: { meter: id } },
    h('label', { for: `meter-${id}` }, label),
    h('meter', { id: `meter-${id}`, min: '0', max: String(limit), value: String(used), high: String(limit * 0.8), optimum: '0' }),
    h('span', { class: 'meter-text' }, t('usage.of', { used: fmt.count(used), limit: fmt.count(limit), share })));
}

export async function render(main) {
  const u = await get('/usage');
  fill(main,
    h('h1', {}, t('nav.usage')),
    h('p', { class: 'lead' }, t('usage.plan', { plan: u.plan })),
    meter('tags', t('usage.tags'), u.tags.used, u.tags.limit),
    meter('samples', t('usage.samples'), u.samples_today.used, u.samples_today.limit),
    meter('requests', t('usage.requests'), u.requests_per_minute.used, u.requests_per_minute.limit),
    h('p', {}, t('usage.retention', { days: u.retention_days })),
    h('p', { class: 'muted' }, t('usage.reset', { time: fmt.dateTime(u.samples_reset_at) })));
  return undefined;
}
