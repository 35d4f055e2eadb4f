// Webhooks (admins): endpoints that receive the tenant's events, created with a signing
// secret shown once; a test event on demand; and each endpoint's delivery log, newest first,
// with every attempt (status or error, duration) and redelivery. The log refreshes while open.

import { get, call } from '../api.js';
import { h, fill, table, field, errorBox, announce } from '../dom.js';
import { t } from '../i18n.js';
import * as fmt from '../format.js';

// The event types, generated from the server's list (`webhooks::event`) with the binary.
const EVENTS_URL = new URL('../webhook-events.json', import.meta.url);
const LOG_EVERY_MS = 5000;
const STATUS_SYMBOL = { succeeded: '✔', failed: '✖', pending: '…' };

function deliveryStatus(status) {
  return h('span', { class: `delivery-status delivery-${status}`, dataset: { status } },
    h('span', { 'aria-hidden': 'true' }, `${STATUS_SYMBOL[status] || '?'} `), t(`webhooks.status.${status}`));
}

function outcome(code, error) {
  if (code !== null && code !== undefined) return `HTTP ${code}`;
  return error || '–';
}

export async function render(main) {
  const listBox = h('div', { id: 'webhooks-list' });
  const issued = h('div', { id: 'issued-secret' });
  const logBox = h('section', { id: 'delivery-log', 'aria-labelledby': 'log-title' });
  let selected = null;
  let logShown = '';

  const showLog = async () => {
    if (!selected) {
      fill(logBox);
      return;
    }
    const deliveries = await get(`/webhooks/${selected.id}/deliveries?limit=50`);
    const signature = JSON.stringify(deliveries);
    if (signature === logShown && logBox.firstChild) return;
    logShown = signature;
    const rows = deliveries.map((d) => {
      const error = h('span', {});
      const redeliver = h('button', {
        type: 'button', class: 'redeliver', dataset: { delivery: d.id },
        'aria-label': t('webhooks.redeliverLabel', { event: d.event_id }),
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            await call('POST', `/webhooks/${selected.id}/deliveries/${d.id}/redeliver`);
            announce(t('webhooks.redelivered', { event: d.event_id }));
            await showLog();
          } catch (err) {
            e.target.disabled = false;
            fill(error, errorBox(err));
          }
        },
      }, t('webhooks.redeliver'));
      const attempts = d.attempt_log.length
        ? h('details', { class: 'attempts' }, h('summary', {}, t('webhooks.attemptCount', { count: d.attempts })),
          h('ol', {}, d.attempt_log.map((a) => h('li', { dataset: { attempt: a.attempt } },
            t('webhooks.attempt', { at: fmt.dateTime(a.at), outcome: outcome(a.status_code, a.error), ms: a.duration_ms })))))
        : t('webhooks.noAttempt');
      return h('tr', { dataset: { delivery: d.id, status: d.status } },
        h('td', {}, fmt.dateTime(d.created_at)),
        h('td', {}, h('code', {}, d.event_type)),
        h('td', {}, h('code', {}, d.event_id), d.redelivery_of ? [' ', h('span', { class: 'muted' }, t('webhooks.repeats', { id: d.redelivery_of }))] : null),
        h('td', {}, deliveryStatus(d.status)),
        h('td', {}, attempts),
        h('td', {}, outcome(d.last_status_code, d.last_error)),
        h('td', {}, d.next_attempt_at ? fmt.dateTime(d.next_attempt_at) : '–'),
        h('td', {}, redeliver, error));
    });
    fill(logBox,
      h('h2', { id: 'log-title' }, t('webhooks.logTitle', { url: selected.url })),
      deliveries.length
        ? table(t('webhooks.logCaption'), [t('webhooks.created'), t('webhooks.eventType'), t('webhooks.event'), t('webhooks.status'),
          t('webhooks.attempts'), t('webhooks.last'), t('webhooks.next'), t('webhooks.actions')], rows, { class: 'data', id: 'deliveries' })
        : h('p', { class: 'muted', id: 'deliveries' }, t('webhooks.noDeliveries')));
  };

  const refresh = async () => {
    const endpoints = await get('/webhooks');
    const rows = endpoints.map((w) => {
      const error = h('span', {});
      const act = (label, attrs, fn) => h('button', {
        type: 'button', ...attrs,
        onclick: async (e) => {
          try {
            await fn(e);
          } catch (err) {
            fill(error, errorBox(err));
          }
        },
      }, label);
      return h('tr', { dataset: { webhook: w.id } },
        h('th', { scope: 'row' }, h('code', {}, w.url)),
        h('td', {}, w.description),
        h('td', {}, w.event_types.map((x) => h('code', {}, x)).reduce((acc, x) => (acc.length ? [...acc, ', ', x] : [x]), [])),
        h('td', {}, w.enabled ? t('rules.on') : t('rules.off')),
        h('td', {}, h('code', {}, w.secret_hint)),
        h('td', {}, fmt.dateTime(w.created_at)),
        h('td', {},
          act(t('webhooks.test'), { class: 'send-test', 'aria-label': t('webhooks.testLabel', { url: w.url }) }, async () => {
            await call('POST', `/webhooks/${w.id}/test`);
            announce(t('webhooks.testSent', { url: w.url }));
            selected = w;
            await showLog();
          }), ' ',
          act(t('webhooks.showLog'), { class: 'show-log', 'aria-label': t('webhooks.showLogLabel', { url: w.url }) }, async () => {
            selected = w;
            await showLog();
            logBox.querySelector('h2').setAttribute('tabindex', '-1');
            logBox.querySelector('h2').focus();
          }), ' ',
          act(w.enabled ? t('rules.disable') : t('rules.enable'), {}, async () => {
            await call('PATCH', `/webhooks/${w.id}`, { enabled: !w.enabled });
            await refresh();
          }),
          error));
    });
    fill(listBox, endpoints.length
      ? table(t('webhooks.caption', { count: endpoints.length }), [t('webhooks.url'), t('webhooks.description'), t('webhooks.events'),
        t('webhooks.enabled'), t('webhooks.secret'), t('webhooks.created'), t('webhooks.actions')], rows, { class: 'data', id: 'webhooks' })
      : h('p', { class: 'muted', id: 'webhooks' }, t('webhooks.none')));
  };

  const url = h('input', { id: 'webhook-url', type: 'url', required: true, placeholder: 'https://example.com/hooks/millwright' });
  const description = h('input', { id: 'webhook-description', maxlength: '500' });
  const events = await fetch(EVENTS_URL).then((r) => r.json());
  const boxes = events.all.map((x) => h('input', {
    type: 'checkbox', id: `webhook-event-${x}`, value: x, checked: events.default.includes(x),
  }));
  const status = h('div', {});
  const form = h('form', {
    class: 'inline-form', 'aria-labelledby': 'new-webhook-title', id: 'webhook-form',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        const created = await call('POST', '/webhooks', {
          url: url.value.trim(), description: description.value, event_types: boxes.filter((b) => b.checked).map((b) => b.value),
        });
        fill(issued, h('div', { class: 'notice once', role: 'alert' },
          h('p', {}, h('strong', {}, t('webhooks.secretTitle', { url: created.url || (created.endpoint || {}).url || url.value }))),
          h('p', {}, t('webhooks.secretText')),
          h('p', {}, h('output', { class: 'secret', id: 'new-webhook-secret', 'aria-label': t('webhooks.secret') }, created.secret))));
        form.reset();
        boxes.forEach((b) => { b.checked = events.default.includes(b.value); });
        fill(status);
        await refresh();
      } catch (err) {
        fill(status, errorBox(err));
      }
    },
  },
  h('h2', { id: 'new-webhook-title' }, t('webhooks.new')),
  field(t('webhooks.url'), url, t('webhooks.urlHint')),
  field(t('webhooks.description'), description),
  h('fieldset', { class: 'event-types' }, h('legend', {}, t('webhooks.events')),
    boxes.map((b) => h('label', { class: 'check' }, b, ' ', h('code', {}, b.value)))),
  h('button', { type: 'submit', class: 'primary' }, t('webhooks.create')), status);

  fill(main, h('h1', {}, t('nav.webhooks')), h('p', { class: 'lead' }, t('webhooks.lead')), issued, listBox, form, logBox);
  await refresh();
  const timer = setInterval(() => showLog().catch(() => {}), LOG_EVERY_MS);
  return () => clearInterval(timer);
}
