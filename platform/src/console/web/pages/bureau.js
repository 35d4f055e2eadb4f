// Sector indices for industry bureaus (issue #16): one index over time for a sector (or all)
// as a line chart, and one period across regions as a table whose withheld cells say why
// (too few contributors, dominance, complementary, no base); both downloadable as CSV. Dates
// are the sites' own local days, as the server computes them. Bureau accounts see no tenant.

import { get, download } from '../api.js';
import { h, fill, table, errorBox } from '../dom.js';
import { t } from '../i18n.js';
import * as mes from '../mes.js';

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function number(v, unit) {
  if (v === null || v === undefined) return '–';
  return `${v.toLocaleString(undefined, { maximumFractionDigits: 4 })}${unit ? ` ${unit}` : ''}`;
}

function addDays(date, days) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** A line over the periods with a value; withheld periods leave a gap and a mark at the foot. */
function lineChart(figures, label, unit) {
  const W = 900; const H = 260; const L = 70; const R = 20; const T = 14; const B = 40;
  const values = figures.filter((f) => f.value !== null).map((f) => f.value);
  const lo = Math.min(0, ...values); const hi = Math.max(1e-9, ...values);
  const x = (i) => L + (figures.length > 1 ? (i * (W - L - R)) / (figures.length - 1) : (W - L - R) / 2);
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo || 1));
  const svg = s('svg', { id: 'bureau-chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'xMinYMin meet' },
    s('title', {}, label),
    s('line', { x1: L, x2: W - R, y1: y(lo), y2: y(lo), class: 'axis' }),
    s('text', { x: L - 6, y: y(hi) + 4, 'text-anchor': 'end', class: 'tick' }, number(hi, '')),
    s('text', { x: L - 6, y: y(lo) + 4, 'text-anchor': 'end', class: 'tick' }, number(lo, '')));
  let path = '';
  figures.forEach((f, i) => {
    if (f.value === null) { path += ' '; return; }
    path += `${path.endsWith(' ') || path === '' ? 'M' : 'L'}${x(i).toFixed(1)},${y(f.value).toFixed(1)}`;
  });
  for (const seg of path.trim().split(/\s+/).filter(Boolean)) svg.append(s('path', { d: seg, class: 'series' }));
  const step = Math.max(1, Math.ceil(figures.length / 8));
  figures.forEach((f, i) => {
    if (i % step === 0 || i === figures.length - 1) {
      svg.append(s('text', { x: x(i), y: H - 18, 'text-anchor': 'middle', class: 'tick' }, f.period_start));
    }
    if (f.value === null) {
      svg.append(s('text', { x: x(i), y: H - 4, 'text-anchor': 'middle', class: 'withheld', 'data-period': f.period_start },
        s('title', {}, `${f.period_start}: ${t(`bureau.reason.${f.suppressed}`)}`), '×'));
    } else {
      svg.append(s('circle', { cx: x(i), cy: y(f.value), r: 4, class: 'point', 'data-period': f.period_start },
        s('title', {}, `${f.period_start}: ${number(f.value, unit)} (${f.contributors})`)));
    }
  });
  return svg;
}

/** A link that downloads the same figures as CSV (fetched with the session's token, so that
 * no token goes into an address). */
function csvLink(id, path, name) {
  const a = h('a', { id, href: '#', download: name, class: 'csv', dataset: { path } }, t('bureau.csv'));
  // A data: address rather than a blob: one, which the content security policy would keep
  // the page itself from reading back.
  download(path).then((blob) => blob.text()).then((text) => {
    a.href = `data:text/csv;charset=utf-8,${encodeURIComponent(text)}`;
    a.dataset.ready = 'true';
  }, (e) => a.replaceWith(errorBox(e)));
  return a;
}

export async function render(main) {
  const list = await get('/bureau/indices');
  const shared = list.indices.filter((i) => !i.never_shared);
  const q = mes.query();
  const through = list.release.complete_through;
  const state = {
    index: shared.some((i) => i.index === q.get('index')) ? q.get('index') : (shared[0] || {}).index,
    sector: list.sectors.includes(q.get('sector')) ? q.get('sector') : '',
    period: list.periods.includes(q.get('period')) ? q.get('period') : 'day',
  };
  const save = () => mes.setQuery(Object.fromEntries(Object.entries(state).filter(([, v]) => v)));
  const pickIndex = mes.picker('bureau-index', t('bureau.index'),
    shared.map((i) => [i.index, t(`bureau.metric.${i.index}`)]), state.index, (v) => { state.index = v; save(); load(); });
  const pickSector = mes.picker('bureau-sector', t('bureau.sector'),
    [['', t('bureau.allSectors')], ...list.sectors.map((x) => [x, x])], state.sector, (v) => { state.sector = v; save(); load(); });
  const pickPeriod = mes.picker('bureau-period', t('bureau.period'),
    list.periods.map((p) => [p, t(`bureau.periodName.${p}`)]), state.period, (v) => { state.period = v; save(); load(); });
  const out = h('div', { id: 'bureau-figures', 'aria-live': 'polite' });
  fill(main,
    h('h1', {}, t('nav.bureau')),
    h('p', { class: 'lead' }, t('bureau.lead', { k: list.release.min_contributors, through })),
    h('div', { class: 'filters', role: 'group', 'aria-label': t('mes.filters') }, pickIndex.el, pickSector.el, pickPeriod.el),
    out);

  let seq = 0;
  async function load() {
    const mine = ++seq;
    out.setAttribute('aria-busy', 'true');
    const info = shared.find((i) => i.index === state.index);
    const sector = state.sector ? `&sector=${encodeURIComponent(state.sector)}` : '';
    const days = { day: 30, week: 7 * 26, month: 365 }[state.period] || 30;
    const seriesPath = `/bureau/indices/${state.index}/series?period=${state.period}&from=${addDays(through, -days)}&to=${through}${sector}`;
    try {
      const series = await get(seriesPath);
      // The cross-section shows the latest period with a published figure.
      const latest = [...series.figures].reverse().find((f) => f.value !== null) || series.figures[series.figures.length - 1];
      const date = latest ? latest.period_start : through;
      const crossPath = `/bureau/indices/${state.index}/cross-section?period=${state.period}&date=${date}&by=region${sector}`;
      const cross = await get(crossPath);
      if (mine !== seq) return;
      const name = t(`bureau.metric.${state.index}`);
      const where = state.sector || t('bureau.allSectors');
      const rows = cross.figures.map((f) => {
        const reason = f.suppressed ? t(`bureau.reason.${f.suppressed}`) : null;
        return h('tr', { dataset: { region: f.region || '', suppressed: f.suppressed || '', value: f.value === null ? '' : String(f.value) } },
          h('th', { scope: 'row' }, f.region || t('bureau.total')),
          h('td', { class: f.suppressed ? 'num withheld' : 'num' },
            f.suppressed ? h('span', { title: t(`bureau.why.${f.suppressed}`) }, `× ${reason}`) : number(f.value, '')),
          h('td', {}, f.contributors || '–'));
      });
      fill(out,
        h('h2', {}, t('bureau.seriesTitle', { index: name, where })),
        h('p', { class: 'muted' }, `${info ? info.definition : ''} ${t('bureau.unit', { unit: series.unit })}`),
        series.figures.length ? lineChart(series.figures, t('bureau.seriesTitle', { index: name, where }), series.unit)
          : h('p', { class: 'muted' }, t('bureau.none')),
        csvLink('bureau-series-csv', `${seriesPath}&format=csv`, `${state.index}-series.csv`),
        h('h2', {}, t('bureau.crossTitle', { index: name, where, date })),
        rows.length
          ? table(t('bureau.crossCaption'), [t('bureau.region'), t('bureau.value'), t('bureau.contributors')], rows, { class: 'data', id: 'bureau-cross' })
          : h('p', { class: 'muted' }, t('bureau.none')),
        csvLink('bureau-cross-csv', `${crossPath}&format=csv`, `${state.index}-${date}.csv`),
        h('dl', { class: 'legend' }, ['too_few_contributors', 'dominance', 'complementary', 'no_base'].flatMap((r) => [
          h('dt', {}, `× ${t(`bureau.reason.${r}`)}`), h('dd', {}, t(`bureau.why.${r}`))])));
    } catch (e) {
      if (mine === seq) fill(out, errorBox(e));
    }
    out.removeAttribute('aria-busy');
  }
  await load();
  return undefined;
}
