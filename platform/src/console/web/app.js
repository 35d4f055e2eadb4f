// The console's entry point: language, sign-in, the page frame (menu, language switch,
// sign-out) and routing to the pages of pages.js, each checked against the permission table
// before anything is fetched.

import * as api from './api.js';
import * as i18n from './i18n.js';
import { t } from './i18n.js';
import { h, fill } from './dom.js';
import { PAGES, NOTHING } from './pages.js';
import * as router from './router.js';

const root = document.getElementById('app');
const base = new URL('./', import.meta.url);
let permissions = { allowed: {}, plan_for: {} };
let me = null;
let stopPage = null;
let rendering = 0;
let main = null;
let nav = null;

function allowed() {
  const byPlan = permissions.allowed[me.role] || {};
  return byPlan[me.plan || 'none'] || [];
}

/** Whether the signed-in account may perform an action (names as in permissions.json). */
export function can(action) {
  return me !== null && allowed().includes(action);
}

function pageAllowed(page) {
  return page.needs.every(can);
}

/** Why a page is closed: the plan that would open it, or the role that does not. */
function whyNot(page) {
  const missing = page.needs.find((a) => !can(a));
  const byPlan = permissions.allowed[me.role] || {};
  const somePlanAllows = Object.values(byPlan).some((actions) => actions.includes(missing));
  if (somePlanAllows && permissions.plan_for[missing]) {
    return t('denied.plan', { plan: permissions.plan_for[missing] });
  }
  return t('denied.role', { role: t(`role.${me.role}`) });
}

function languageSwitch() {
  const select = h('select', {
    id: 'language',
    value: i18n.current(),
    onchange: async (e) => {
      await i18n.choose(e.target.value);
      if (me) {
        frame();
        await route();
      } else {
        signIn();
      }
      document.getElementById('language').focus();
    },
  }, i18n.LANGS.map((l) => h('option', { value: l.tag, lang: l.tag }, l.name)));
  return h('span', { class: 'language' },
    h('label', { for: 'language', class: 'visually-hidden' }, t('frame.language')), select);
}

function frame() {
  const menuPages = PAGES.filter((p) => p.menu && pageAllowed(p));
  nav = h('nav', { 'aria-label': t('frame.menu') },
    h('ul', {}, menuPages.map((p) =>
      h('li', { class: p.admin ? 'admin' : '' },
        h('a', { href: `#${p.path}`, dataset: { page: p.id } }, t(`nav.${p.id}`))))));
  main = h('main', { id: 'main', tabindex: '-1' });
  const skip = h('a', {
    class: 'skip', href: '#main',
    onclick: (e) => { e.preventDefault(); main.focus(); },
  }, t('frame.skip'));
  const signOut = h('button', {
    type: 'button', id: 'sign-out',
    onclick: async () => {
      await api.logout();
      me = null;
      signIn(t('signin.signedOut'));
    },
  }, t('frame.signOut'));
  fill(root,
    skip,
    h('header', { class: 'topbar' },
      h('span', { class: 'brand' }, 'Millwright'),
      nav,
      h('span', { class: 'who' },
        languageSwitch(),
        h('span', { class: 'account', id: 'account' }, t('frame.account', { actor: me.actor, role: t(`role.${me.role}`) })),
        signOut)),
    main,
    h('div', { id: 'announcer', class: 'visually-hidden', 'aria-live': 'polite', role: 'status' }),
    h('footer', {}, t('frame.footer', { version: new URL(base).pathname.split('/')[3] || '' })));
  root.removeAttribute('aria-busy');
}

function markCurrent(pageId) {
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.page === pageId) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  const seq = ++rendering;
  if (stopPage) {
    stopPage();
    stopPage = null;
  }
  let { page, params } = router.current();
  const anyPage = PAGES.some((p) => p.menu && pageAllowed(p));
  if (!anyPage && (page === null || page.path === '/')) page = NOTHING;
  // The start page for accounts that may not open the overview (bureau users): their first page.
  else if (page !== null && page.path === '/' && !pageAllowed(page)) page = PAGES.find((p) => p.menu && pageAllowed(p));
  markCurrent(page && page.id);
  delete root.dataset.ready;
  main.setAttribute('aria-busy', 'true');
  main.replaceChildren();
  if (page === null) {
    fill(main, h('h1', { tabindex: '-1' }, t('notFound.title')), h('p', {}, t('notFound.text')));
  } else if (!pageAllowed(page)) {
    fill(main, h('h1', { tabindex: '-1' }, t(`nav.${page.id}`)),
      h('p', { class: 'notice denied', role: 'alert' }, whyNot(page)));
    root.dataset.denied = page.id;
  } else {
    delete root.dataset.denied;
    // Each page draws into its own container: a page still loading when the reader moves on
    // then writes into a detached element, never over the next page.
    const view = h('div', { class: 'view' });
    main.append(view);
    try {
      const module = await page.load();
      if (seq !== rendering) return;
      const ctx = { params, me, can, go: router.go };
      const stop = await module.render(view, ctx);
      if (seq !== rendering) {
        if (typeof stop === 'function') stop();
        return;
      }
      stopPage = typeof stop === 'function' ? stop : null;
    } catch (e) {
      if (seq !== rendering) return;
      view.append(h('p', { class: 'error', role: 'alert' }, t('frame.failed', { detail: e.detail || String(e) })));
    }
  }
  main.removeAttribute('aria-busy');
  const heading = main.querySelector('h1');
  if (heading) {
    document.title = `${heading.textContent} · Millwright`;
    heading.setAttribute('tabindex', '-1');
    if (document.activeElement === document.body || seq > 1) heading.focus({ preventScroll: true });
  }
  root.dataset.page = page ? page.id : 'unknown';
  root.dataset.ready = 'true';
}

async function signIn(message) {
  if (stopPage) {
    stopPage();
    stopPage = null;
  }
  rendering++;
  const { render } = await import('./pages/signin.js');
  fill(root, h('div', { class: 'signin-frame' }, h('div', { class: 'signin-language' }, languageSwitch()),
    h('main', { id: 'main', tabindex: '-1' })));
  root.removeAttribute('aria-busy');
  root.dataset.page = 'signin';
  await render(root.querySelector('main'), {
    message,
    done: async () => {
      me = await api.get('/me');
      frame();
      await route();
    },
  });
  root.dataset.ready = 'true';
}

async function boot() {
  // The catalogue, the permission table and who is signed in, side by side.
  const who = api.signedIn() ? api.get('/me').then((m) => ({ m }), (e) => ({ e })) : null;
  const [, table] = await Promise.all([
    i18n.use(i18n.initial()),
    fetch(new URL('permissions.json', base)).then((r) => r.json()),
  ]);
  permissions = table;
  router.listen(() => {
    if (me) route();
  });
  const answer = who && await who;
  api.onSignedOut(() => {
    // Several calls may be refused at once; one sign-in page is enough.
    if (me === null) return;
    me = null;
    signIn(t('signin.ended'));
  });
  if (!answer || answer.e) return signIn(answer && answer.e.status !== 401 ? answer.e.detail : undefined);
  me = answer.m;
  frame();
  return route();
}

boot();
