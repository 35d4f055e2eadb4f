// Numbers and times in the reader's language. Times are shown in the site's own time zone
// when the plant model carries one (`time_zone` on the site), else in the browser's.

import { current } from './i18n.js';

/** A timestamp (ISO text, Date or epoch ms) as date and time. */
export function dateTime(value, timeZone) {
  if (value === null || value === undefined) return '';
  const date = value instanceof Date ? value : new Date(value);
  return new Intl.DateTimeFormat(current(), {
    dateStyle: 'short',
    timeStyle: 'medium',
    timeZone: timeZone || undefined,
  }).format(date);
}

/** A measured value with its unit; a dash when there is none. */
export function value(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  const digits = Math.abs(v) >= 100 ? 1 : Math.abs(v) >= 1 ? 2 : 3;
  const text = new Intl.NumberFormat(current(), { maximumFractionDigits: digits }).format(v);
  return unit ? `${text} ${unit}` : text;
}

/** A whole number with grouping. */
export function count(n) {
  return new Intl.NumberFormat(current()).format(n);
}

/** The time zone name shown beside times. */
export function zoneName(timeZone) {
  return timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone;
}
