// Hash routes (#/machines/12): the server serves one shell, and a reload keeps the page.
// Hashes that do not start with #/ are left to the browser (in-page anchors).

import { PAGES } from './pages.js';

function match(pattern, path) {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(':')) params[want[i].slice(1)] = decodeURIComponent(got[i]);
    else if (want[i] !== got[i]) return null;
  }
  return params;
}

/** The route of the current location: {path, page, params}; page is null when unknown. */
export function current() {
  const hash = location.hash;
  const path = hash.startsWith('#/') ? hash.slice(1).split('?')[0] : '/';
  for (const page of PAGES) {
    const params = match(page.path, path);
    if (params) return { path, page, params };
  }
  return { path, page: null, params: {} };
}

/** Opens a route. */
export function go(path) {
  if (location.hash === `#${path}`) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = `#${path}`;
  }
}

/** Calls `handler` on every route change. */
export function listen(handler) {
  window.addEventListener('hashchange', () => {
    if (location.hash === '' || location.hash.startsWith('#/')) handler();
  });
}
