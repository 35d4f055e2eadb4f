// Building the page from plain DOM nodes. Text always goes in as text (never as HTML), so
// nothing a tag name or an audit entry contains can run as script.

/** An element: h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child, [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (key.startsWith('on') && typeof v === 'function') {
      el.addEventListener(key.slice(2), v);
    } else if (key === 'class') {
      el.className = v;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (key === 'value') {
      value = v;
    } else if (key === 'checked' || key === 'selected') {
      el[key] = Boolean(v);
    } else {
      el.setAttribute(key, v === true ? '' : String(v));
    }
  }
  append(el, children);
  // After the options exist, so a <select> can take its value.
  if (value !== undefined) el.value = value;
  return el;
}

/** Appends nodes or text, skipping null, undefined and false; arrays are flattened. */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Says something to screen-reader users without moving focus. */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh text node after a tick, so the same sentence twice is read twice.
  setTimeout(() => { region.textContent = message; }, 30);
}

/** A table with a caption, column headers and rows of cells. */
export function table(caption, headers, rows, attrs = {}) {
  return h('table', attrs,
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows));
}

/** A labelled form field: the label wraps its text and the control. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control,
    hint ? h('span', { class: 'hint' }, hint) : null);
}

/** An error message for a failed call, announced to screen readers. */
export function errorBox(error) {
  const detail = error && error.detail ? error.detail : String(error);
  const fieldName = error && error.field ? ` (${error.field})` : '';
  return h('p', { class: 'error', role: 'alert' }, detail + fieldName);
}
