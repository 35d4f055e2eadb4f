// Calls to /api/v1 with the signed-in user's tokens: the 15-minute access token goes with
// every call; shortly before it expires (or on a 401) the refresh token is exchanged once for
// new tokens. A refresh token works only once and presenting it twice ends the session, so
// at most one exchange runs at a time.

const SESSION_KEY = 'mw.session';
let session = read();
let refreshing = null;
let signedOutHandler = () => {};

/** A refused call: the status and the problem+json document the API answered. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = (problem && problem.detail) || `HTTP ${status}`;
    this.field = problem && problem.field;
    this.problem = problem || {};
  }
}

function read() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    return null;
  }
}

function save(tokens) {
  session = {
    access: tokens.access_token,
    refresh: tokens.refresh_token,
    expiresAt: Date.now() + tokens.expires_in * 1000,
    lifetime: tokens.expires_in * 1000,
  };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

function forget() {
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
}

async function problem(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body);
}

function post(path, body) {
  return fetch(`/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Whether tokens are held (they may still turn out to be expired). */
export function signedIn() {
  return session !== null;
}

/** Called when the session ends under us (refresh refused). */
export function onSignedOut(handler) {
  signedOutHandler = handler;
}

/** Signs in with email and password. */
export async function login(email, password) {
  const response = await post('/auth/login', { email, password });
  if (!response.ok) throw await problem(response);
  save(await response.json());
}

/** Ends the session on the server (its tokens stop working at once) and here. */
export async function logout() {
  if (session) {
    try {
      await call('POST', '/auth/logout');
    } catch {
      // Signed out here whatever the server says.
    }
  }
  forget();
}

function refresh() {
  if (!refreshing) {
    const token = session && session.refresh;
    refreshing = (async () => {
      if (!token) throw new ApiError(401, { detail: 'signed out' });
      const response = await post('/auth/refresh', { refresh_token: token });
      if (!response.ok) {
        forget();
        throw await problem(response);
      }
      save(await response.json());
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

function send(method, path, body) {
  const headers = { authorization: `Bearer ${session.access}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return fetch(`/api/v1${path}`, init);
}

/** One API call; resolves to the JSON answer (null for 204), rejects with an ApiError. */
export async function call(method, path, body) {
  if (!session) throw new ApiError(401, { detail: 'signed out' });
  try {
    // Renew a minute (or a quarter of the token's life, if shorter) before expiry.
    const margin = Math.min(60000, (session.lifetime || 900000) / 4);
    if (session.expiresAt - Date.now() < margin) await refresh();
    let response = await send(method, path, body);
    if (response.status === 401) {
      await refresh();
      response = await send(method, path, body);
    }
    if (!response.ok) throw await problem(response);
    return response.status === 204 ? null : response.json();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      forget();
      signedOutHandler();
    }
    throw e;
  }
}

/** GET as a Blob (a CSV download), with the same token handling as `call`. */
export async function download(path) {
  if (!session) throw new ApiError(401, { detail: 'signed out' });
  const margin = Math.min(60000, (session.lifetime || 900000) / 4);
  if (session.expiresAt - Date.now() < margin) await refresh();
  let response = await send('GET', path);
  if (response.status === 401) {
    await refresh();
    response = await send('GET', path);
  }
  if (!response.ok) throw await problem(response);
  return response.blob();
}

/** GET. */
export function get(path) {
  return call('GET', path);
}

/** Every item of a list route, page by page (keyset pagination with `after`). */
export async function listAll(path) {
  const all = [];
  let after = 0;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=1000&after=${after}`);
    all.push(...page);
    if (page.length < 1000) return all;
    after = page[page.length - 1].id;
  }
}
