// The shell: sign-in, navigation, and the poll loop that keeps the page live.

import { h, clear, toast } from './dom.js';
import { api, poll, auth, ApiError } from './api.js';
import { overviewPage, routesPage, subnetsPage, groupsPage, interfacesPage, eventsPage, settingsPage, configPage, routersPage, noteStatus } from './pages.js';
import { fleet, learnFleet } from './fleet.js';
import { topologyPage } from './topology.js';
import { reachPage } from './reach.js';
import { capturesPage } from './captures.js';

const POLL_MS = 1000; // changes made elsewhere show within about a second

const PAGES = {
  '': ['Overview', overviewPage],
  topology: ['Topology', topologyPage],
  routes: ['Routes', routesPage],
  subnets: ['Subnets', subnetsPage],
  'security-groups': ['Security groups', groupsPage],
  interfaces: ['Interfaces', interfacesPage],
  events: ['Events', eventsPage],
  reach: ['Reachability', reachPage],
  captures: ['Captures', capturesPage],
  routers: ['Routers', routersPage],
  settings: ['Settings', settingsPage],
  config: ['Config', configPage],
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const pulse = document.getElementById('pulse');
const signout = document.getElementById('signout');
const scopeBadge = document.getElementById('scope');

let page = null;
let status = null;
let stale = null; // fleet mode: Vrouter-Stale-Since of the last status answer
let timer = null;
let busy = false;

function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [name, query] = raw.split('?');
  return { name: name || '', params: Object.fromEntries(new URLSearchParams(query || '')) };
}

function showPulse(st, staleSince) {
  clear(pulse);
  if (!st) return;
  const drift = Object.values(st.drift_repairs).reduce((a, b) => a + b, 0);
  const failed = st.failed.routes + st.failed.other;
  pulse.append(h('span', {},
    fleet.on ? [h('a', { href: '#/routers' }, `router ${fleet.self}`), ' · '] : null,
    staleSince ? [h('span', { class: 'badge failed', title: `etcd cannot be reached: this page shows this router's own copy, current as of ${staleSince}; writes are refused (503) until etcd answers again` }, 'etcd unreachable'), ' '] : null,
    h('span', { class: `badge ${st.converged ? 'active' : 'pending'}` }, st.converged ? 'converged' : 'applying'),
    ` applied revision ${st.applied_revision} of ${st.desired_revision}`,
    failed ? [' · ', h('a', { href: '#/', class: 'bad' }, `${failed} failed`)] : null,
    drift ? ` · ${drift} drift repairs` : null));
}

async function tick() {
  if (busy || !auth.token || document.visibilityState === 'hidden') return;
  busy = true;
  try {
    const r = await poll('/v1/status');
    if (r.changed || r.stale !== stale) {
      if (r.changed) noteStatus(status, r.data);
      status = r.data;
      stale = r.stale;
      showPulse(status, stale);
    }
    if (page) await page.refresh(status, r.changed);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) pulse.textContent = `daemon not answering: ${e.message}`;
  } finally {
    busy = false;
  }
}

function render() {
  if (!auth.token) { signIn(); return; }
  const { name, params } = route();
  const entry = PAGES[name] || PAGES[''];
  clear(main);
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${entry[0]} · vrouter`;
  page = entry[1](main, params);
  const h1 = main.querySelector('h1');
  if (h1 && document.activeElement !== document.body) h1.focus();
  busy = false;
  tick();
}

function signIn(message) {
  page = null;
  nav.hidden = true;
  signout.hidden = true;
  showScope(null);
  clear(pulse);
  clear(main);
  document.title = 'Sign in · vrouter';
  const err = h('p', { id: 'token-err', class: 'err', role: 'alert', hidden: !message }, message || '');
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'token-hint token-err', spellcheck: 'false' });
  const form = h('form', { class: 'panel narrow signin' },
    h('h1', { tabindex: '-1' }, 'Sign in'),
    h('div', { class: 'field' },
      h('label', { for: 'token' }, 'Bearer token'),
      input,
      h('p', { id: 'token-hint', class: 'hint' }, 'The daemon\'s token: ', h('code', {}, 'sudo cat /var/lib/vrouter/token'),
        ' (or the file given with --token-file). It is kept for this browser tab only and sent as ', h('code', {}, 'Authorization: Bearer …'), ' with every call.'),
      err),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    err.hidden = true;
    input.removeAttribute('aria-invalid');
    try {
      await api('GET', '/v1/status', undefined, { token });
      auth.set(token);
      await started();
      if (!location.hash) location.hash = '#/';
      render();
    } catch (e) {
      err.textContent = e instanceof ApiError && e.status === 401
        ? 'The daemon refused this token (401 Unauthorized). Copy it again from the token file; it is 64 hex characters.'
        : `Could not reach the daemon: ${e.message}`;
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  });
  main.append(form);
  input.focus();
}

// Read-only mode for a read token: the badge, and no control that would write.
function showScope(scope) {
  const ro = scope === 'read';
  document.body.classList.toggle('read-only', ro);
  scopeBadge.hidden = !ro;
}

async function learnScope() {
  try {
    const { data } = await api('GET', '/v1/whoami');
    showScope(data.scope);
    if (data.scope === 'read') scopeBadge.title = `The token "${data.name}" has scope read: it can look at everything and change nothing`;
  } catch {
    showScope('write'); // the API answers writes it refuses with 403 anyway
  }
}

async function started() {
  nav.hidden = false;
  signout.hidden = false;
  learnScope();
  await learnFleet();
  nav.querySelector('a[href="#/routers"]').parentElement.hidden = !fleet.on;
  if (!timer) timer = setInterval(tick, POLL_MS);
}

signout.addEventListener('click', () => {
  auth.clear();
  status = null;
  clearInterval(timer);
  timer = null;
  signIn();
  toast('Signed out: the token is forgotten in this tab');
});

window.addEventListener('vr-unauthorized', () => {
  if (!auth.token) return;
  auth.clear();
  clearInterval(timer);
  timer = null;
  signIn('The daemon no longer accepts the token of this tab (401). Sign in again.');
});

window.addEventListener('hashchange', () => { if (auth.token) render(); });
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') tick(); });

if (auth.token) started().then(render); else signIn();
performance.mark('vr-first-render'); // the page is usable from here (tests/web measure it)
