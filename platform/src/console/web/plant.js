// The plant model (sites → lines → machines → tags) as one structure, loaded with a few list
// calls and kept for a minute; and the latest values of many tags in calls of up to 1000.

import { get, listAll } from './api.js';

let cached = null;
let cachedAt = 0;

/** Whether a tag holds a model's output (`<machine>.pm.<output>`, marked derived). */
export function isPrediction(tag) {
  return tag.derived === true || tag.name.includes('.pm.');
}

/** The short name of a tag: what follows its machine's name. */
export function shortName(tag, machine) {
  const prefix = `${machine.name}.`;
  return tag.name.startsWith(prefix) ? tag.name.slice(prefix.length) : tag.name;
}

/** Sites, lines, machines and tags, indexed. */
export async function plant(force = false) {
  if (!force && cached && Date.now() - cachedAt < 60000) return cached;
  const [sites, lines, machines, tags] = await Promise.all([
    listAll('/sites'), listAll('/lines'), listAll('/machines'), listAll('/tags'),
  ]);
  const site = new Map(sites.map((s) => [s.id, s]));
  const line = new Map(lines.map((l) => [l.id, l]));
  const machine = new Map(machines.map((m) => [m.id, { ...m, tags: [], predictions: [] }]));
  for (const tag of tags) {
    const m = machine.get(tag.machine_id);
    if (!m) continue;
    (isPrediction(tag) ? m.predictions : m.tags).push(tag);
  }
  cached = { sites, lines, machines: [...machine.values()], site, line, machine };
  cachedAt = Date.now();
  return cached;
}

/** The site a machine belongs to. */
export function siteOf(p, machine) {
  const line = p.line.get(machine.line_id);
  return line ? p.site.get(line.site_id) : undefined;
}

/** The latest sample of each tag: a Map of tag id → {time, value, quality} or null. */
export async function latest(tagIds) {
  const out = new Map();
  const chunks = [];
  for (let i = 0; i < tagIds.length; i += 1000) chunks.push(tagIds.slice(i, i + 1000));
  const answers = await Promise.all(chunks.map((ids) => get(`/samples/latest?tags=${ids.join(',')}`)));
  for (const answer of answers) {
    for (const item of answer) out.set(item.tag_id, item.sample);
  }
  return out;
}

/**
 * Sets each site's `time_zone` from its shift calendar (`GET /sites/{id}/calendar`, an MES
 * route: call only when the account may read MES data), so times show in the site's own zone.
 * Fetched once per plant model.
 */
export async function withZones(p) {
  if (!p.zones) {
    p.zones = Promise.all(p.sites.map(async (s) => {
      if (s.time_zone) return;
      try {
        const cal = await get(`/sites/${s.id}/calendar`);
        s.time_zone = cal.time_zone;
      } catch {
        // Without a calendar the browser's zone is used.
      }
    }));
  }
  await p.zones;
  return p;
}
