// Numbers and times in the reader's language. Times are shown in the site's own time zone
// when the plant model carries one (`time_zone` on the site), else in the browser's.
// Intl formatters are costly to build (a plant overview formats hundreds of values every few
// seconds), so each is built once per language and options.

import { current } from './i18n.js';

const formatters = new Map();

function formatter(kind, options) {
  const key = `${kind}|${current()}|${JSON.stringify(options)}`;
  let f = formatters.get(key);
  if (!f) {
    f = kind === 'date'
      ? new Intl.DateTimeFormat(current(), options)
      : new Intl.NumberFormat(current(), options);
    formatters.set(key, f);
  }
  return f;
}

/** A timestamp (ISO text, Date or epoch ms) as date and time. */
export function dateTime(value, timeZone) {
  if (value === null || value === undefined) return '';
  const date = value instanceof Date ? value : new Date(value);
  return formatter('date', { dateStyle: 'short', timeStyle: 'medium', timeZone: timeZone || undefined })
    .format(date);
}

/** A measured value with its unit; a dash when there is none. */
export function value(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  // A text tag's value (a program name, a recipe) shows as it is.
  if (typeof v === 'string') return v;
  const digits = Math.abs(v) >= 100 ? 1 : Math.abs(v) >= 1 ? 2 : 3;
  const text = formatter('number', { maximumFractionDigits: digits }).format(v);
  return unit ? `${text} ${unit}` : text;
}

/** A whole number with grouping. */
export function count(n) {
  return formatter('number', {}).format(n);
}

/** The time zone name shown beside times. */
export function zoneName(timeZone) {
  return timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** A time-axis label: hours and minutes over a couple of days, days over months, else months. */
export function axisTime(ms, spanMs, timeZone) {
  let options;
  if (spanMs <= 2 * 86400e3) options = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  else if (spanMs <= 120 * 86400e3) options = { month: 'numeric', day: 'numeric' };
  else options = { year: 'numeric', month: 'numeric' };
  return formatter('date', { ...options, timeZone: timeZone || undefined }).format(new Date(ms));
}

/** A share (0..1) as a percentage; a dash when there is none. */
export function percent(share, digits = 1) {
  if (share === null || share === undefined || Number.isNaN(share)) return '–';
  return formatter('number', { style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits })
    .format(share);
}

/** Seconds as hours and minutes (`3 h 05 min`, `12 min`, `40 s`). */
export function duration(secs) {
  if (secs === null || secs === undefined || Number.isNaN(secs)) return '–';
  const sign = secs < 0 ? '−' : '';
  const s = Math.round(Math.abs(secs));
  if (s < 60) return `${sign}${s} s`;
  const minutes = Math.floor(s / 60) % 60;
  const hours = Math.floor(s / 3600);
  if (hours === 0) return `${sign}${minutes} min`;
  return `${sign}${count(hours)} h ${String(minutes).padStart(2, '0')} min`;
}

/** A local date (YYYY-MM-DD) `days` before today in `timeZone`. */
export function localDate(timeZone, daysBack = 0) {
  const d = new Date(Date.now() - daysBack * 86400e3);
  // en-CA writes dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone: timeZone || undefined, year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(d);
}
