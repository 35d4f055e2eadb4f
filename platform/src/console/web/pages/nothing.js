// For accounts that may open none of the tenant pages: bureau users read sector aggregates
// only, and their pages arrive with the bureau API.

import { h, fill } from '../dom.js';
import { t } from '../i18n.js';

export async function render(main, ctx) {
  fill(main,
    h('h1', {}, t('nothing.title')),
    h('p', { class: 'notice', dataset: { role: ctx.me.role } }, t('nothing.text', { role: t(`role.${ctx.me.role}`) })));
}
