// The audit log, newest first, with the verdict on its hash chain: the server recomputes
// every entry's SHA-256 from the one before it, as `millwright audit verify` does.

import { get } from '../api.js';
import { h, fill, table, errorBox } from '../dom.js';
import { t } from '../i18n.js';
import * as fmt from '../format.js';

const PAGE = 100;

function details(entry) {
  if (!entry.before && !entry.after) return '';
  return h('details', {},
    h('summary', {}, t('audit.details')),
    entry.before ? [h('h4', {}, t('audit.before')), h('pre', {}, JSON.stringify(entry.before, null, 2))] : null,
    entry.after ? [h('h4', {}, t('audit.after')), h('pre', {}, JSON.stringify(entry.after, null, 2))] : null);
}

export async function render(main) {
  const verdictBox = h('div', { id: 'chain' }, h('p', { role: 'status' }, t('audit.verifying')));
  const body = h('tbody', {});
  const more = h('button', { type: 'button', hidden: true }, t('audit.older'));
  fill(main,
    h('h1', {}, t('nav.audit')),
    verdictBox,
    h('table', { class: 'data', id: 'audit' },
      h('caption', {}, t('audit.caption')),
      h('thead', {}, h('tr', {}, [t('audit.seq'), t('audit.at'), t('audit.actor'), t('audit.action'),
        t('audit.target'), t('audit.hash'), t('audit.change')].map((x) => h('th', { scope: 'col' }, x)))),
      body),
    more);

  const verdict = await get('/audit/verify');
  fill(verdictBox, verdict.intact
    ? h('p', { class: 'verdict intact', dataset: { intact: 'true' } },
      h('span', { 'aria-hidden': 'true' }, '✔ '), t('audit.intact', { count: fmt.count(verdict.entries), time: fmt.dateTime(verdict.checked_at) }))
    : h('p', { class: 'verdict broken', role: 'alert', dataset: { intact: 'false' } },
      h('span', { 'aria-hidden': 'true' }, '✖ '), t('audit.broken', { reason: verdict.broken || '' })));

  // Sequence numbers run from 1 without holes (the chain), so the newest page starts at
  // entries - PAGE, and each older page PAGE before that.
  let after = Math.max(0, verdict.entries - PAGE);
  let limit = verdict.entries - after;
  const load = async () => {
    if (limit <= 0) {
      more.hidden = true;
      return;
    }
    try {
      const entries = await get(`/audit?after=${after}&limit=${limit}`);
      body.append(...entries.reverse().map((e) => h('tr', {},
        h('td', {}, e.seq), h('td', {}, fmt.dateTime(e.at)), h('td', {}, e.actor), h('td', {}, h('code', {}, e.action)),
        h('td', {}, e.target), h('td', {}, h('code', { title: e.hash }, e.hash.slice(0, 12))), h('td', {}, details(e)))));
    } catch (e) {
      main.append(errorBox(e));
    }
    limit = Math.min(PAGE, after);
    after = Math.max(0, after - PAGE);
    more.hidden = limit <= 0;
  };
  more.addEventListener('click', load);
  if (verdict.entries === 0) body.append(h('tr', {}, h('td', { colspan: '7' }, t('audit.empty'))));
  await load();
  return undefined;
}
