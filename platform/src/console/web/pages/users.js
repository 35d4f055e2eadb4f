// A tenant's people: who they are, their roles, whether they may sign in; owners and admins
// add people and change roles (never above their own: the server checks that too).

import { get, call } from '../api.js';
import { h, fill, table, field, errorBox, announce } from '../dom.js';
import { t } from '../i18n.js';
import * as fmt from '../format.js';

const PEOPLE_ROLES = ['owner', 'admin', 'engineer', 'operator', 'viewer'];

/** Roles the signed-in account may hand out (owners: all; admins: all but owner). */
export function grantable(role) {
  if (role === 'owner') return PEOPLE_ROLES;
  if (role === 'admin') return PEOPLE_ROLES.filter((r) => r !== 'owner');
  return [];
}

export async function render(main, ctx) {
  const listBox = h('div', {});
  const roles = grantable(ctx.me.role);
  const roleSelect = (value, attrs) => h('select', { value, ...attrs },
    PEOPLE_ROLES.filter((r) => roles.includes(r) || r === value)
      .map((r) => h('option', { value: r, disabled: !roles.includes(r) }, t(`role.${r}`))));

  const refresh = async () => {
    const users = await get('/users');
    const rows = users.map((u) => {
      const error = h('span', {});
      const change = async (patch, message) => {
        try {
          await call('PATCH', `/users/${u.id}`, patch);
          announce(message);
          await refresh();
        } catch (err) {
          fill(error, errorBox(err));
        }
      };
      const role = roleSelect(u.role, {
        'aria-label': t('users.roleOf', { email: u.email }),
        onchange: (e) => change({ role: e.target.value }, t('users.roleChanged', { email: u.email })),
      });
      const toggle = h('button', {
        type: 'button',
        onclick: () => change({ disabled: !u.disabled_at }, u.disabled_at
          ? t('users.enabled', { email: u.email })
          : t('users.disabled', { email: u.email })),
      }, u.disabled_at ? t('users.enable') : t('users.disable'));
      return h('tr', { dataset: { user: u.id } },
        h('td', {}, u.email), h('td', {}, u.name), h('td', {}, role),
        h('td', {}, u.disabled_at ? t('users.statusDisabled') : t('users.statusActive')),
        h('td', {}, fmt.dateTime(u.created_at)), h('td', {}, toggle, error));
    });
    fill(listBox, table(t('users.caption', { count: users.length }),
      [t('users.email'), t('users.name'), t('users.role'), t('users.status'), t('users.created'), t('users.actions')],
      rows, { class: 'data', id: 'users' }));
  };

  const email = h('input', { type: 'email', id: 'new-email', required: true, autocomplete: 'off' });
  const name = h('input', { id: 'new-name', autocomplete: 'off' });
  const password = h('input', { type: 'password', id: 'new-password', required: true, minlength: '12', autocomplete: 'new-password' });
  const role = roleSelect('viewer', { id: 'new-role' });
  const status = h('div', {});
  const form = h('form', {
    class: 'inline-form', 'aria-labelledby': 'add-user-title',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await call('POST', '/users', { email: email.value.trim(), name: name.value, role: role.value, password: password.value });
        announce(t('users.added', { email: email.value }));
        form.reset();
        fill(status);
        await refresh();
      } catch (err) {
        fill(status, errorBox(err));
      }
    },
  },
  h('h2', { id: 'add-user-title' }, t('users.add')),
  field(t('users.email'), email), field(t('users.name'), name), field(t('users.role'), role),
  field(t('users.password'), password, t('users.passwordHint')),
  h('button', { type: 'submit' }, t('users.addButton')), status);

  fill(main, h('h1', {}, t('nav.users')), listBox, form);
  await refresh();
  return undefined;
}
