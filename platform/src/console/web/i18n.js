// The console speaks zh-CN and en. The server picks the first language from the browser's
// Accept-Language (it is the <html lang> of the shell); a choice made with the switch is
// remembered in this browser and wins from then on.

const base = new URL('./', import.meta.url);
const STORAGE_KEY = 'mw.lang';

/** The languages the switch offers, each named in itself. */
export const LANGS = [
  { tag: 'zh-CN', name: '中文' },
  { tag: 'en', name: 'English' },
];

let catalogue = {};
let lang = 'en';

/** The language to start in: the remembered choice, else the server's pick. */
export function initial() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (LANGS.some((l) => l.tag === saved)) return saved;
  const fromServer = document.documentElement.lang;
  return LANGS.some((l) => l.tag === fromServer) ? fromServer : 'en';
}

/** Loads a catalogue and makes it current. */
export async function use(tag) {
  const response = await fetch(new URL(`i18n/${tag}.json`, base));
  if (!response.ok) throw new Error(`catalogue ${tag}: ${response.status}`);
  catalogue = await response.json();
  lang = tag;
  document.documentElement.lang = tag;
}

/** Switches language and remembers the choice. */
export async function choose(tag) {
  localStorage.setItem(STORAGE_KEY, tag);
  await use(tag);
}

/** The current language's tag. */
export function current() {
  return lang;
}

/** The text for a key, with {name} placeholders filled from vars. */
export function t(key, vars) {
  const text = Object.prototype.hasOwnProperty.call(catalogue, key) ? catalogue[key] : key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : ''));
}
