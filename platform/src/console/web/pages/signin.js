// Sign-in with the tenant login (email and password → access and refresh tokens).

import * as api from '../api.js';
import { h, field, fill } from '../dom.js';
import { t } from '../i18n.js';

export async function render(main, ctx) {
  const email = h('input', { type: 'email', name: 'email', id: 'email', autocomplete: 'username', required: true });
  const password = h('input', {
    type: 'password', name: 'password', id: 'password', autocomplete: 'current-password', required: true,
  });
  const status = h('div', { class: 'signin-status' },
    ctx.message ? h('p', { class: 'notice', role: 'status' }, ctx.message) : null);
  const submit = h('button', { type: 'submit', class: 'primary' }, t('signin.submit'));
  const form = h('form', {
    class: 'signin',
    'aria-labelledby': 'signin-title',
    onsubmit: async (e) => {
      e.preventDefault();
      submit.disabled = true;
      fill(status, h('p', { role: 'status' }, t('signin.working')));
      try {
        await api.login(email.value.trim(), password.value);
        await ctx.done();
      } catch (err) {
        const text = err.status === 401 ? t('signin.wrong') : t('signin.failed', { detail: err.detail || String(err) });
        fill(status, h('p', { class: 'error', role: 'alert' }, text));
        submit.disabled = false;
        password.select();
      }
    },
  },
  h('h1', { id: 'signin-title' }, t('signin.title')),
  h('p', { class: 'lead' }, t('signin.lead')),
  field(t('signin.email'), email),
  field(t('signin.password'), password),
  submit,
  status);
  fill(main, form);
  email.focus();
}
