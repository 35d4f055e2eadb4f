// API keys for programs and device tokens for connectors: issued with a role no higher than
// the issuer's, shown exactly once, listed afterwards by prefix only, revocable.

import { get, call } from '../api.js';
import { h, fill, table, field, errorBox, announce } from '../dom.js';
import { t } from '../i18n.js';
import { grantable } from './users.js';
import * as fmt from '../format.js';

export async function render(main, ctx) {
  const listBox = h('div', {});
  const issued = h('div', { id: 'issued-key' });

  const refresh = async () => {
    const keys = await get('/api-keys');
    const rows = keys.map((k) => {
      const error = h('span', {});
      let armed = false;
      const revoke = k.revoked_at ? null : h('button', {
        type: 'button',
        'aria-label': t('keys.revokeLabel', { name: k.name, prefix: k.prefix }),
        onclick: async (e) => {
          // Two steps, so one stray key press cannot cut a connector off.
          if (!armed) {
            armed = true;
            e.target.textContent = t('keys.confirmRevoke');
            e.target.setAttribute('aria-label', t('keys.confirmRevokeLabel', { name: k.name, prefix: k.prefix }));
            return;
          }
          try {
            await call('DELETE', `/api-keys/${k.id}`);
            announce(t('keys.revoked', { name: k.name }));
            await refresh();
          } catch (err) {
            fill(error, errorBox(err));
          }
        },
      }, t('keys.revoke'));
      return h('tr', { dataset: { key: k.id } },
        h('td', {}, k.name), h('td', {}, h('code', {}, `${k.prefix}…`)), h('td', {}, t(`role.${k.role}`)),
        h('td', {}, fmt.dateTime(k.created_at)),
        h('td', {}, k.expires_at ? fmt.dateTime(k.expires_at) : t('keys.never')),
        h('td', {}, k.last_used_at ? fmt.dateTime(k.last_used_at) : '–'),
        h('td', {}, k.revoked_at ? t('keys.revokedAt', { time: fmt.dateTime(k.revoked_at) }) : [revoke, error]));
    });
    fill(listBox, table(t('keys.caption', { count: keys.length }),
      [t('keys.name'), t('keys.prefix'), t('keys.role'), t('keys.created'), t('keys.expires'), t('keys.lastUsed'), t('keys.actions')],
      rows, { class: 'data', id: 'keys' }));
  };

  const name = h('input', { id: 'key-name', required: true, maxlength: '200' });
  const roles = ['device', ...grantable(ctx.me.role)];
  const role = h('select', { id: 'key-role', value: 'device' },
    roles.map((r) => h('option', { value: r }, t(`role.${r}`))));
  const expires = h('input', { type: 'date', id: 'key-expires' });
  // A device token reaches one site (its connector's); other keys reach the whole tenant.
  const sites = await get('/sites?limit=1000');
  const site = h('select', { id: 'key-site' },
    sites.map((s) => h('option', { value: String(s.id) }, s.name)));
  const siteField = field(t('keys.site'), site, t('keys.siteHint'));
  role.addEventListener('change', () => { siteField.hidden = role.value !== 'device'; });
  const status = h('div', {});
  const form = h('form', {
    class: 'inline-form', 'aria-labelledby': 'new-key-title',
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { name: name.value.trim(), role: role.value };
      if (role.value === 'device') body.site_id = Number(site.value);
      if (expires.value) body.expires_at = new Date(`${expires.value}T00:00:00`).toISOString();
      try {
        const key = await call('POST', '/api-keys', body);
        const secret = h('output', { class: 'secret', id: 'new-key-secret', 'aria-label': t('keys.secret') }, key.key);
        const copy = h('button', {
          type: 'button',
          onclick: async () => {
            await navigator.clipboard.writeText(key.key);
            announce(t('keys.copied'));
          },
        }, t('keys.copy'));
        fill(issued, h('div', { class: 'notice once', role: 'alert' },
          h('p', {}, h('strong', {}, t('keys.onceTitle', { name: key.name }))),
          h('p', {}, t('keys.onceText')), h('p', {}, secret, ' ', copy)));
        form.reset();
        fill(status);
        await refresh();
      } catch (err) {
        fill(status, errorBox(err));
      }
    },
  },
  h('h2', { id: 'new-key-title' }, t('keys.new')),
  field(t('keys.name'), name), field(t('keys.role'), role), siteField,
  field(t('keys.expires'), expires, t('keys.expiresHint')),
  h('button', { type: 'submit' }, t('keys.issue')), status);

  fill(main, h('h1', {}, t('nav.keys')), issued, form, listBox);
  await refresh();
  return undefined;
}
