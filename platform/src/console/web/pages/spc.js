// SPC: a characteristic's control charts (I-MR, X̄-R or X̄-S) with centre line, control
// limits, specification limits and the points that break a run rule marked, the violations
// listed, and its capability (Cp, Cpk, Pp, Ppk with confidence intervals, expected and
// observed parts per million).

import { get } from '../api.js';
import { h, fill, table, errorBox } from '../dom.js';
import { t } from '../i18n.js';
import { plant, withZones } from '../plant.js';
import { controlChart } from '../charts.js';
import * as mes from '../mes.js';
import * as fmt from '../format.js';

function index(ix) {
  if (!ix) return '–';
  return [fmt.value(ix.value), ' ', h('span', { class: 'muted' }, t('spc.interval', { lower: fmt.value(ix.lower), upper: fmt.value(ix.upper) }))];
}

export async function render(main) {
  const [p, characteristics] = await Promise.all([plant().then(withZones), get('/quality/characteristics')]);
  const zone = (p.sites.find((s) => s.time_zone) || {}).time_zone;
  const q = mes.query();
  const ids = characteristics.map((c) => String(c.id));
  const state = { id: ids.includes(q.get('id')) ? q.get('id') : (ids[0] || '') };
  const out = h('div', { id: 'spc-report', 'aria-live': 'polite' });
  let charts = [];
  const stop = () => {
    charts.forEach((c) => c.destroy());
    charts = [];
  };
  fill(main,
    h('h1', {}, t('nav.spc')),
    h('p', { class: 'lead' }, t('spc.lead')),
    characteristics.length
      ? h('div', { class: 'filters', role: 'group', 'aria-label': t('mes.filters') },
        mes.picker('spc-characteristic', t('spc.characteristic'),
          characteristics.map((c) => [String(c.id), c.unit ? `${c.name} (${c.unit})` : c.name]), state.id, (v) => {
            state.id = v;
            mes.setQuery(state);
            load();
          }).el)
      : h('p', { class: 'muted' }, t('spc.noCharacteristics')),
    out);

  let seq = 0;
  async function load() {
    if (!state.id) return;
    const mine = ++seq;
    out.setAttribute('aria-busy', 'true');
    let chart;
    let capability;
    try {
      [chart, capability] = await Promise.all([
        get(`/quality/characteristics/${state.id}/chart`),
        get(`/quality/characteristics/${state.id}/capability`).catch((e) => ({ error: e })),
      ]);
    } catch (e) {
      if (mine === seq) fill(out, errorBox(e));
      out.removeAttribute('aria-busy');
      return;
    }
    if (mine !== seq) return;
    stop();
    const c = chart.characteristic;
    // The capability figures are flattened into the answer beside the characteristic.
    const cp = capability.error ? null : (capability.capability || capability);
    // The pair is flattened into the answer: baseline, rules, location, dispersion.
    const { location, dispersion } = chart.charts || chart;
    const loc = controlChart(location, {
      label: t('spc.locationLabel', { name: c.name, stat: t(`spc.stat.${location.statistic}`) }), unit: c.unit, spec: chart.spec, timeZone: zone,
    });
    const disp = controlChart(dispersion, {
      label: t('spc.dispersionLabel', { name: c.name, stat: t(`spc.stat.${dispersion.statistic}`) }), unit: c.unit, timeZone: zone, height: 180,
    });
    charts = [loc, disp];
    const pointTime = new Map(location.points.map((pt) => [pt.index, pt.time]));
    const limits = (ch) => t('spc.limits', { centre: fmt.value(ch.centre), ucl: fmt.value(ch.ucl), lcl: fmt.value(ch.lcl) });
    fill(out,
      h('p', { class: 'muted' }, t(`spc.baseline.${chart.baseline_source}`)),
      h('section', { 'aria-labelledby': 'location-title' },
        h('h2', { id: 'location-title' }, t(`spc.stat.${location.statistic}`)),
        h('p', { class: 'muted', id: 'location-limits' }, limits(location)),
        loc.el),
      h('section', { 'aria-labelledby': 'dispersion-title' },
        h('h3', { id: 'dispersion-title' }, t(`spc.stat.${dispersion.statistic}`)),
        h('p', { class: 'muted' }, limits(dispersion)),
        disp.el),
      h('h2', { id: 'violations-title' }, t('spc.violationsTitle', { count: location.violations.length })),
      location.violations.length
        ? table(t('spc.violationsCaption', { zone: fmt.zoneName(zone) }), [t('spc.rule'), t('spc.description'), t('spc.at'), t('spc.when')],
          location.violations.map((v) => h('tr', { class: 'violation-row', dataset: { at: v.at } },
            h('td', { class: 'violation' }, h('span', { 'aria-hidden': 'true' }, '● '), t('spc.ruleNo', { set: t(`spc.rules.${v.rule_set}`), rule: v.rule })),
            h('td', {}, v.description),
            h('td', { class: 'num' }, `#${v.at}`),
            h('td', {}, fmt.dateTime(pointTime.get(v.at), zone)))), { class: 'data', id: 'spc-violations' })
        : h('p', { class: 'muted' }, t('spc.inControl')),
      h('h2', { id: 'capability-title' }, t('spc.capability')),
      capability.error
        ? h('p', { class: 'notice', id: 'capability' }, t('spc.noCapability', { detail: capability.error.detail || String(capability.error) }))
        : h('dl', { class: 'figures', id: 'capability' },
          mes.figure('cp', 'Cp', index(cp.cp)),
          mes.figure('cpk', 'Cpk', index(cp.cpk)),
          mes.figure('pp', 'Pp', index(cp.pp)),
          mes.figure('ppk', 'Ppk', index(cp.ppk)),
          mes.figure('n', t('spc.n'), fmt.count(cp.n)),
          mes.figure('mean', t('spc.mean'), fmt.value(cp.mean, c.unit)),
          mes.figure('sigma', t('spc.sigma'), fmt.value(cp.sigma_within),
            t('spc.sigmaOverall', { sigma: fmt.value(cp.sigma_overall) })),
          mes.figure('ppm', t('spc.ppm'), fmt.count(Math.round(cp.expected_ppm_overall)),
            t('spc.ppmObserved', { ppm: fmt.count(Math.round(cp.observed_ppm)) }))),
      capability.error ? null
        : h('p', { class: 'muted' }, t('spc.capabilityNote', { confidence: fmt.percent(cp.confidence, 0) })));
    out.removeAttribute('aria-busy');
  }
  await load();
  return stop;
}
