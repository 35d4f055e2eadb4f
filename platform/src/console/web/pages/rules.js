// Alarm rules: what each watches (one tag, or a tag name on every machine, optionally of one
// class), its condition in words, on-delay, severity and whether it is evaluated. Engineers
// and admins (manage_alarm_rules) create rules here and switch them on and off; everyone who
// reads alarms sees the list.

import { get, call, listAll } from '../api.js';
import { h, fill, table, field, errorBox, announce } from '../dom.js';
import { t } from '../i18n.js';
import { plant } from '../plant.js';
import * as fmt from '../format.js';

const TYPES = ['high', 'low', 'rate_of_change', 'stale', 'machine_state'];
const SEVERITIES = ['low', 'medium', 'high', 'critical'];
const MACHINE_STATES = ['fault', 'down', 'idle', 'setup', 'unknown', 'running'];

/** A rule's condition in words. */
export function conditionText(c) {
  switch (c.type) {
    case 'high': return t('rules.cond.high', { limit: fmt.value(c.limit), deadband: fmt.value(c.deadband || 0) });
    case 'low': return t('rules.cond.low', { limit: fmt.value(c.limit), deadband: fmt.value(c.deadband || 0) });
    case 'rate_of_change': return t('rules.cond.rate_of_change', { limit: fmt.value(c.limit_per_min), window: c.window_secs });
    case 'stale': return t('rules.cond.stale', { secs: c.after_secs });
    case 'machine_state': return t('rules.cond.machine_state', { state: t(`state.${c.state}`) });
    default: return c.type;
  }
}

/** A severity as a word in a coloured outline. */
export function severityBadge(s) {
  return h('span', { class: `severity severity-${s}`, dataset: { severity: s } }, t(`rules.severity.${s}`));
}

export async function render(main, ctx) {
  const p = await plant();
  const tagName = new Map(p.machines.flatMap((m) => m.tags.map((tag) => [tag.id, tag.name])));
  const manage = ctx.can('manage_alarm_rules');
  const listBox = h('div', { id: 'rules-list' });

  const refresh = async () => {
    const rules = await listAll('/alarm-rules');
    const rows = rules.map((r) => {
      const error = h('span', {});
      const watches = r.tag_id !== null && r.tag_id !== undefined
        ? (tagName.get(r.tag_id) || `#${r.tag_id}`)
        : (r.machine_kind
          ? t('rules.suffixOfKind', { suffix: r.tag_suffix, kind: r.machine_kind })
          : t('rules.suffix', { suffix: r.tag_suffix }));
      const toggle = manage ? h('button', {
        type: 'button', class: 'toggle', dataset: { rule: r.id },
        'aria-label': r.enabled ? t('rules.disableLabel', { name: r.name }) : t('rules.enableLabel', { name: r.name }),
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            await call('PATCH', `/alarm-rules/${r.id}`, { enabled: !r.enabled });
            announce(r.enabled ? t('rules.disabled', { name: r.name }) : t('rules.enabled', { name: r.name }));
            await refresh();
          } catch (err) {
            e.target.disabled = false;
            fill(error, errorBox(err));
          }
        },
      }, r.enabled ? t('rules.disable') : t('rules.enable')) : null;
      // Deleting takes two presses, so one stray key press cannot remove a rule.
      let armed = false;
      const remove = manage ? h('button', {
        type: 'button', class: 'delete', dataset: { rule: r.id },
        'aria-label': t('rules.deleteLabel', { name: r.name }),
        onclick: async (e) => {
          if (!armed) {
            armed = true;
            e.target.textContent = t('rules.confirmDelete');
            e.target.setAttribute('aria-label', t('rules.confirmDeleteLabel', { name: r.name }));
            return;
          }
          e.target.disabled = true;
          try {
            await call('DELETE', `/alarm-rules/${r.id}`);
            announce(t('rules.deleted', { name: r.name }));
            await refresh();
          } catch (err) {
            e.target.disabled = false;
            fill(error, errorBox(err));
          }
        },
      }, t('rules.delete')) : null;
      return h('tr', { dataset: { rule: r.id, enabled: String(r.enabled) }, class: r.enabled ? '' : 'cleared' },
        h('th', { scope: 'row' }, r.name),
        h('td', {}, h('code', {}, watches)),
        h('td', {}, conditionText(r.condition)),
        h('td', { class: 'num' }, r.on_delay_secs ? fmt.duration(r.on_delay_secs) : '–'),
        h('td', {}, severityBadge(r.severity)),
        h('td', {}, r.enabled ? t('rules.on') : t('rules.off')),
        h('td', { class: 'muted' }, r.message),
        manage ? h('td', {}, toggle, ' ', remove, error) : null);
    });
    const headers = [t('rules.name'), t('rules.watches'), t('rules.condition'), t('rules.onDelay'), t('rules.severity'),
      t('rules.status'), t('rules.message')];
    if (manage) headers.push(t('rules.actions'));
    fill(listBox, rules.length
      ? table(t('rules.caption', { count: rules.length }), headers, rows, { class: 'data', id: 'rules' })
      : h('p', { class: 'muted', id: 'rules' }, t('rules.none')));
  };

  fill(main, h('h1', {}, t('nav.rules')), h('p', { class: 'lead' }, t('rules.lead')), listBox,
    manage ? ruleForm(p, refresh) : h('p', { class: 'muted' }, t('rules.readOnly')));
  await refresh();
  return undefined;
}

function ruleForm(p, onSaved) {
  const numericTags = p.machines.flatMap((m) => m.tags.filter((tag) => tag.value_type !== 'text'))
    .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  const name = h('input', { id: 'rule-name', required: true, maxlength: '200' });
  const tag = h('select', { id: 'rule-tag' }, h('option', { value: '' }, t('rules.bySuffix')),
    numericTags.map((tg) => h('option', { value: String(tg.id) }, tg.name)));
  const suffix = h('input', { id: 'rule-suffix', maxlength: '200', placeholder: 'oil_temp' });
  const kind = h('input', { id: 'rule-kind', maxlength: '200' });
  const type = h('select', { id: 'rule-type' }, TYPES.map((x) => h('option', { value: x }, t(`rules.type.${x}`))));
  const limit = h('input', { id: 'rule-limit', type: 'number', step: 'any' });
  const deadband = h('input', { id: 'rule-deadband', type: 'number', step: 'any', min: '0', value: '0' });
  const secs = h('input', { id: 'rule-secs', type: 'number', min: '1', step: '1', value: '60' });
  const state = h('select', { id: 'rule-state' }, MACHINE_STATES.map((s) => h('option', { value: s }, t(`state.${s}`))));
  const delay = h('input', { id: 'rule-delay', type: 'number', min: '0', max: '86400', step: '1', value: '0' });
  const severity = h('select', { id: 'rule-severity', value: 'medium' },
    SEVERITIES.map((s) => h('option', { value: s }, t(`rules.severity.${s}`))));
  const message = h('input', { id: 'rule-message', maxlength: '500' });
  const fields = {
    suffix: field(t('rules.suffixField'), suffix, t('rules.suffixHint')),
    kind: field(t('rules.kindField'), kind, t('rules.kindHint')),
    limit: field(t('rules.limit'), limit),
    deadband: field(t('rules.deadband'), deadband, t('rules.deadbandHint')),
    secs: field(t('rules.secs'), secs),
    state: field(t('rules.state'), state),
  };
  const show = () => {
    const ty = type.value;
    fields.suffix.hidden = tag.value !== '';
    fields.kind.hidden = tag.value !== '';
    fields.limit.hidden = !['high', 'low', 'rate_of_change'].includes(ty);
    fields.deadband.hidden = !['high', 'low', 'rate_of_change'].includes(ty);
    fields.secs.hidden = !['stale', 'rate_of_change'].includes(ty);
    fields.state.hidden = ty !== 'machine_state';
    fields.secs.querySelector('.field-label').textContent = ty === 'stale' ? t('rules.staleSecs') : t('rules.windowSecs');
    fields.limit.querySelector('.field-label').textContent = ty === 'rate_of_change' ? t('rules.ratePerMin') : t('rules.limit');
  };
  tag.addEventListener('change', show);
  type.addEventListener('change', show);
  show();
  const status = h('div', {});
  const num = (input) => (input.value === '' ? undefined : Number(input.value));
  const form = h('form', {
    class: 'inline-form', 'aria-labelledby': 'new-rule-title', id: 'rule-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const ty = type.value;
      let condition;
      if (ty === 'high' || ty === 'low') condition = { type: ty, limit: num(limit), deadband: num(deadband) || 0 };
      else if (ty === 'rate_of_change') condition = { type: ty, limit_per_min: num(limit), window_secs: num(secs), deadband: num(deadband) || 0 };
      else if (ty === 'stale') condition = { type: ty, after_secs: num(secs) };
      else condition = { type: ty, state: state.value };
      const body = { name: name.value.trim(), condition, severity: severity.value, on_delay_secs: num(delay) || 0 };
      if (tag.value) body.tag_id = Number(tag.value);
      else {
        body.tag_suffix = suffix.value.trim();
        if (kind.value.trim()) body.machine_kind = kind.value.trim();
      }
      if (message.value.trim()) body.message = message.value.trim();
      try {
        await call('POST', '/alarm-rules', body);
        announce(t('rules.created', { name: body.name }));
        form.reset();
        show();
        fill(status);
        await onSaved();
      } catch (err) {
        fill(status, errorBox(err));
      }
    },
  },
  h('h2', { id: 'new-rule-title' }, t('rules.new')),
  field(t('rules.name'), name), field(t('rules.tag'), tag, t('rules.tagHint')), fields.suffix, fields.kind,
  field(t('rules.condition'), type), fields.limit, fields.deadband, fields.secs, fields.state,
  field(t('rules.onDelay'), delay, t('rules.onDelayHint')), field(t('rules.severity'), severity),
  field(t('rules.message'), message, t('rules.messageHint')),
  h('button', { type: 'submit', class: 'primary' }, t('rules.create')), status);
  return form;
}
