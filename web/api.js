// The only way the UI reaches the daemon: its public API, with the bearer token of
// this browser tab. GETs remember the ETag of what they showed and ask with
// If-None-Match, so an unchanged answer is a 304 without a body.

const KEY = 'vrouter.token';

export const auth = {
  get token() { return sessionStorage.getItem(KEY) || ''; },
  set(t) { sessionStorage.setItem(KEY, t); },
  clear() { sessionStorage.removeItem(KEY); cache.clear(); },
};

export class ApiError extends Error {
  constructor(status, problem, path) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.path = path;
    this.errors = (problem && problem.errors) || [];
  }
}

const cache = new Map(); // path -> { etag, data }

function headers(token, extra) {
  const h = { Accept: 'application/json', ...extra };
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

async function readBody(res) {
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return { detail: text }; }
}

// api(method, path, body, {ifMatch, token, raw}) -> { status, data, etag }
export async function api(method, path, body, opts = {}) {
  const token = opts.token !== undefined ? opts.token : auth.token;
  const extra = {};
  if (body !== undefined) extra['Content-Type'] = 'application/json';
  if (opts.ifMatch) extra['If-Match'] = opts.ifMatch;
  const res = await fetch(path, {
    method,
    headers: headers(token, extra),
    body: body === undefined ? undefined : (opts.raw ? body : JSON.stringify(body)),
    cache: 'no-store',
  });
  const data = res.status === 204 ? null : await readBody(res);
  if (res.status === 401 && opts.token === undefined) {
    window.dispatchEvent(new CustomEvent('vr-unauthorized'));
  }
  if (!res.ok) throw new ApiError(res.status, data, path);
  return { status: res.status, data, etag: res.headers.get('ETag') };
}

// A GET that costs a 304 when nothing changed: { data, etag, changed, stale }.
export async function poll(path) {
  const prev = cache.get(path);
  const res = await fetch(path, {
    headers: headers(auth.token, prev ? { 'If-None-Match': prev.etag } : {}),
    cache: 'no-store',
  });
  // Fleet mode: set while etcd cannot be reached (the answer is this router's copy).
  const stale = res.headers.get('Vrouter-Stale-Since');
  if (res.status === 304 && prev) return { data: prev.data, etag: prev.etag, changed: false, stale };
  const data = await readBody(res);
  if (res.status === 401) window.dispatchEvent(new CustomEvent('vr-unauthorized'));
  if (!res.ok) throw new ApiError(res.status, data, path);
  const etag = res.headers.get('ETag');
  if (etag) cache.set(path, { etag, data });
  return { data, etag, changed: true, stale };
}

// Every item of a collection (following `next`), for pickers and the topology.
export async function all(path) {
  const items = [];
  let after = null;
  for (let i = 0; i < 100; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const p = `${path}${sep}limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`;
    const { data } = await poll(p);
    items.push(...data.items);
    if (!data.next) break;
    after = data.next;
  }
  return items;
}
