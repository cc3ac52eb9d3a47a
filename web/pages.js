// The pages. Each returns { refresh() }: the app calls it about once a second, and
// it asks the API with If-None-Match, so nothing is re-drawn unless the answer changed.

import { h, clear, nextId, badge, code, hrefFor, toast } from './dom.js';
import { api, poll, all, ApiError } from './api.js';
import { KINDS } from './kinds.js';
import { openEditor, openDelete, exportPanel, refOptions } from './forms.js';
import { fleet, visible } from './fleet.js';
import { tfSettingsResource, tfSettingsModule, curlFor } from './kinds.js';

// ---------------------------------------------------------------- activity

// What the UI saw change while it watched /v1/status (drift repairs, new revisions).
export const activity = [];
const ACTIVITY_MAX = 12;

function note(text, kind) {
  activity.unshift({ at: new Date(), text, kind });
  activity.length = Math.min(activity.length, ACTIVITY_MAX);
}

export function noteStatus(prev, cur) {
  if (!prev) return;
  for (const [k, n] of Object.entries(cur.drift_repairs || {})) {
    const was = (prev.drift_repairs || {})[k] || 0;
    if (n > was) {
      const text = `Drift repaired: ${n - was} ${k} put back as desired (drift_repairs.${k} ${was} → ${n})`;
      note(text, 'repair');
      toast(text);
    }
  }
  if (cur.desired_revision !== prev.desired_revision) {
    note(`Desired state changed: revision ${prev.desired_revision} → ${cur.desired_revision}`, 'write');
  }
}

// ---------------------------------------------------------------- helpers

function pageHead(title, intro) {
  return [h('h1', { tabindex: '-1' }, title), intro ? h('p', { class: 'intro' }, intro) : null];
}

function dl(pairs) {
  return h('dl', { class: 'kv' }, pairs.map(([k, v, key]) => [h('dt', {}, k), h('dd', { dataset: key ? { k: key } : undefined }, v)]));
}

function onOff(b) {
  return h('span', { class: `badge ${b ? 'active' : 'off'}` }, b ? 'on' : 'off');
}

const pad = (n) => String(n).padStart(2, '0');

// "2026-12-07 12:16:13", local time: unambiguous, and sorts.
function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Fleet mode: a select of the fleet's routers (this one first chosen); nothing otherwise.
// { el, value() }; onChange runs when another router is chosen.
function routerPicker(id, hint, onChange) {
  if (!fleet.on) return { el: null, value: () => '' };
  const sel = h('select', { id, name: 'router', 'aria-describedby': `${id}-hint` },
    fleet.routers.map((r) => h('option', { value: r }, r === fleet.self ? `${r} (this router)` : r)));
  sel.value = fleet.self;
  sel.addEventListener('change', (ev) => { ev.stopPropagation(); onChange(); });
  return {
    el: h('div', { class: 'field' }, h('label', { for: id }, code('router')), sel, h('p', { class: 'hint', id: `${id}-hint` }, hint)),
    value: () => sel.value,
  };
}

function problemBox(e) {
  return h('p', { class: 'form-error', role: 'alert' }, e instanceof ApiError ? `${e.status}: ${e.message}` : `The daemon did not answer: ${e.message}`);
}

// ---------------------------------------------------------------- lists

// A paged, filtered list of one collection with create, edit and delete.
// opts: { kind, columns: [{label, render(o)}], params, preset(), actions(o) }
export function listView(opts) {
  const k = KINDS[opts.kind];
  const params = opts.params || {};
  const state = { limit: Number(params.limit) || 50, after: null, back: [], filters: {}, text: '' };
  for (const f of k.filters) if (params[f.name]) state.filters[f.name] = params[f.name];
  const headId = nextId('list');
  const tbody = h('tbody');
  const info = h('p', { class: 'pageinfo', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'small', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', class: 'small', disabled: true }, 'Next →');
  let last = null;
  let highlighted = false;
  const filterSelects = [];

  const reload = () => refresh(true);
  const create = () => openEditor({ kind: opts.kind, preset: opts.preset ? opts.preset(state.filters) : undefined, onDone: reload });

  const toolbar = h('div', { class: 'toolbar' },
    h('button', { type: 'button', class: 'primary', onclick: create, dataset: { new: opts.kind, write: '' } }, `New ${k.one}`));
  for (const f of k.filters) {
    const id = nextId('flt');
    const sel = h('select', { id, dataset: { filter: f.name } }, h('option', { value: '' }, f.all));
    sel.addEventListener('change', () => { setFilter(f.name, sel.value); });
    filterSelects.push({ f, sel });
    toolbar.append(h('span', { class: 'tf' }, h('label', { for: id }, code(f.name)), sel));
  }
  const textId = nextId('q');
  const text = h('input', { id: textId, type: 'search', placeholder: 'filter this page', autocomplete: 'off' });
  text.addEventListener('input', () => { state.text = text.value.trim().toLowerCase(); draw(); });
  const limId = nextId('lim');
  const lim = h('select', { id: limId }, [10, 50, 100, 500, 1000].map((n) => h('option', { value: String(n) }, String(n))));
  lim.value = String(state.limit);
  lim.addEventListener('change', () => { state.limit = Number(lim.value); state.after = null; state.back = []; reload(); });
  toolbar.append(
    h('span', { class: 'tf' }, h('label', { for: textId }, 'Filter'), text),
    h('span', { class: 'tf' }, h('label', { for: limId }, code('limit')), lim));

  prev.addEventListener('click', () => { state.after = state.back.pop() || null; reload(); });
  next.addEventListener('click', () => {
    if (!last || !last.next) return;
    state.back.push(state.after);
    state.after = last.next;
    reload();
  });

  const cols = visible(opts.columns);
  const table = h('table', { class: 'list', 'aria-labelledby': headId },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c.label)), opts.noStatus ? null : h('th', { scope: 'col' }, 'status'), h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'actions')))),
    tbody);
  const el = h('section', { class: 'panel', 'aria-labelledby': headId, dataset: { list: opts.kind } },
    h('h2', { id: headId }, opts.title || k.title),
    toolbar,
    h('div', { class: 'tablewrap' }, table),
    h('div', { class: 'pager' }, prev, info, next));

  function setFilter(name, value) {
    if (value) state.filters[name] = value; else delete state.filters[name];
    for (const { f, sel } of filterSelects) if (f.name === name) sel.value = value || '';
    state.after = null;
    state.back = [];
    reload();
  }

  function path() {
    const q = new URLSearchParams({ limit: String(state.limit) });
    if (state.after) q.set('after', state.after);
    for (const [n, v] of Object.entries(state.filters)) q.set(n, v);
    return `${k.path}?${q}`;
  }

  function draw() {
    const focusKey = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    clear(tbody);
    const items = (last ? last.items : []).filter((o) => !state.text || JSON.stringify(o).toLowerCase().includes(state.text));
    for (const o of items) {
      const actions = h('td', { class: 'acts' },
        (opts.actions ? opts.actions(o) : []),
        h('button', { type: 'button', class: 'small', dataset: { key: `${o.id}:edit`, write: '' }, 'aria-label': `Edit ${k.one} ${k.label(o)}`, onclick: () => editObj(o) }, 'Edit'),
        h('button', { type: 'button', class: 'small danger', dataset: { key: `${o.id}:delete`, write: '' }, 'aria-label': `Delete ${k.one} ${k.label(o)}`, onclick: () => openDelete({ kind: opts.kind, obj: o, onDone: reload }) }, 'Delete'));
      const tr = h('tr', { dataset: { id: o.id, state: (o.status && o.status.state) || '' } },
        cols.map((c) => h('td', { 'data-label': c.label }, c.render(o))),
        opts.noStatus ? null : h('td', { 'data-label': 'status' }, badge(o.status)),
        actions);
      if (params.id === o.id || params.rule === o.id) tr.classList.add('hl');
      tbody.append(tr);
    }
    if (!items.length) {
      tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: String(cols.length + (opts.noStatus ? 1 : 2)) },
        last && last.items.length ? 'Nothing on this page matches the filter.' : `No ${k.title.toLowerCase()} yet.`)));
    }
    const n = last ? last.items.length : 0;
    const from = state.back.length * state.limit;
    info.textContent = n ? `${from + 1}–${from + n}${last.next ? '' : ` of ${from + n}`}` : '';
    prev.disabled = !state.back.length && !state.after;
    next.disabled = !last || !last.next;
    if (focusKey) {
      const again = tbody.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
    const hl = tbody.querySelector('tr.hl');
    if (hl && !highlighted) { highlighted = true; hl.scrollIntoView({ block: 'center' }); }
  }

  async function editObj(o) {
    try {
      const r = await api('GET', `${k.path}/${o.id}`);
      openEditor({ kind: opts.kind, obj: r.data, etag: r.etag, onDone: reload });
    } catch (e) {
      toast(e instanceof ApiError && e.status === 404 ? `${k.one} ${o.id} was deleted meanwhile` : e.message, 'error');
      reload();
    }
  }

  async function loadFilterOptions() {
    for (const fs of filterSelects) {
      const { f, sel } = fs;
      try {
        const opts2 = f.ref === 'iface' || f.ref === 'router' ? await refOptions(f.ref)
          : (await all(KINDS[f.ref].path)).map((o) => [o.id, `${KINDS[f.ref].label(o)} (${o.id})`]);
        const sig = JSON.stringify(opts2);
        if (sig === fs.sig) continue;
        fs.sig = sig;
        const keep = state.filters[f.name] || '';
        clear(sel);
        sel.append(h('option', { value: '' }, f.all));
        for (const [v, l] of opts2) sel.append(h('option', { value: v }, l));
        if (keep && !opts2.some(([v]) => v === keep)) sel.append(h('option', { value: keep }, keep));
        sel.value = keep;
      } catch { /* the list itself reports errors */ }
    }
  }

  let errBox = null;
  async function refresh(force) {
    try {
      const r = await poll(path());
      if (errBox) { errBox.remove(); errBox = null; }
      if (force || last !== r.data) {
        last = r.data;
        if (opts.onData) opts.onData(last.items);
        draw();
      }
      if (filterSelects.length) await loadFilterOptions();
    } catch (e) {
      if (!errBox) { errBox = problemBox(e); el.append(errBox); }
    }
  }

  return { el, refresh, setFilter };
}

// ---------------------------------------------------------------- overview

export function overviewPage(main) {
  const body = h('div', { class: 'cards' });
  main.append(...pageHead('Overview', 'What this vrouterd wants (desired state) and what the kernel has (applied), as GET /v1/status reports it.'), body);
  let drawn = false;
  return {
    async refresh(st, changed) {
      if (!st || (drawn && !changed)) return;
      drawn = true;
      const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.getAttribute('href') : null;
      clear(body);
      const la = st.last_apply;
      const failed = st.failed_objects || [];
      body.append(
        h('section', { class: 'card', 'aria-labelledby': 'ov-rev' }, h('h2', { id: 'ov-rev' }, 'Revision'),
          dl([['desired', String(st.desired_revision), 'desired_revision'], ['applied', String(st.applied_revision), 'applied_revision'],
            ['converged', h('span', { class: `badge ${st.converged ? 'active' : 'pending'}` }, st.converged ? 'yes' : 'applying'), 'converged'],
            ['applies', `${st.applies} (${st.apply_failures} with failures)`]])),
        h('section', { class: 'card', 'aria-labelledby': 'ov-last' }, h('h2', { id: 'ov-last' }, 'Last apply'),
          la ? dl([['at', fmtTime(la.at)], ['took', `${Number(la.duration_ms).toFixed(1)} ms`],
            ['outcome', h('span', { class: `badge ${la.outcome === 'ok' ? 'active' : 'failed'}` }, la.outcome), 'last_apply.outcome'],
            la.error ? ['error', la.error] : null].filter(Boolean)) : h('p', {}, 'Nothing applied yet.')),
        h('section', { class: 'card', 'aria-labelledby': 'ov-fwd' }, h('h2', { id: 'ov-fwd' }, 'Forwarding'),
          dl([['IPv4', onOff(st.forwarding.ipv4), 'forwarding.ipv4'], ['IPv6', onOff(st.forwarding.ipv6), 'forwarding.ipv6'],
            ['managed', st.forwarding.managed ? 'by vrouter' : 'no (left as found)']]),
          h('p', {}, h('a', { href: '#/settings' }, 'Settings'))),
        h('section', { class: 'card', 'aria-labelledby': 'ov-drift' }, h('h2', { id: 'ov-drift' }, 'Drift repairs'),
          dl(Object.entries(st.drift_repairs).map(([k, v]) => [k, String(v), `drift_repairs.${k}`])),
          h('p', { class: 'hint' }, 'Owned objects changed or removed by someone else, and put back.')),
        h('section', { class: 'card', 'aria-labelledby': 'ov-owned' }, h('h2', { id: 'ov-owned' }, 'Owned in the kernel'),
          dl([['routes', String(st.owned.routes), 'owned.routes'], ['addresses', String(st.owned.addresses)], ['policy rules', String(st.owned.rules)],
            ['nftables objects', String(st.owned.nft_objects)]]),
          h('p', { class: 'hint' }, 'proto vrouter routes and rules, addresses vrouter added, table inet vrouter.')),
        h('section', { class: `card wide ${failed.length ? 'bad' : ''}`, 'aria-labelledby': 'ov-failed' },
          h('h2', { id: 'ov-failed' }, `Failed objects (${failed.length})`),
          failed.length
            ? h('ul', { class: 'failed' }, failed.map((f) => h('li', {}, h('a', { href: hrefFor(f.id) }, code(f.id)), ' ', h('span', { class: 'reason' }, f.reason))))
            : h('p', {}, 'None: every desired object is applied.')),
        h('section', { class: 'card wide', 'aria-labelledby': 'ov-act' }, h('h2', { id: 'ov-act' }, 'Seen while this page was open'),
          activity.length
            ? h('ul', { class: 'activity' }, activity.map((a) => h('li', { class: a.kind }, h('time', {}, fmtTime(a.at.toISOString()).slice(11)), ' ', a.text)))
            : h('p', {}, 'Nothing yet. Changes made anywhere (curl, Terraform, drift repair) show up here within a second or two.')),
      );
      if (focused) {
        const again = body.querySelector(`a[href="${CSS.escape(focused)}"]`);
        if (again) again.focus();
      }
    },
  };
}

// ---------------------------------------------------------------- collections

const dash = (v) => (v === undefined || v === null || v === '' ? '—' : String(v));

export function routesPage(main, params) {
  main.append(...pageHead('Routes', 'ip route add, as desired state: routes stay in the kernel while they are here, and come back if removed by hand.'));
  const routes = listView({
    kind: 'route', params: { ...params, route_table_id: params.table },
    preset: (f) => (f.route_table_id ? { route_table_id: f.route_table_id } : {}),
    columns: [
      { label: 'router', render: (o) => code(o.router), fleetOnly: true },
      { label: 'destination', render: (o) => code(o.destination) },
      { label: 'type', render: (o) => o.type },
      { label: 'next hop', render: (o) => (o.type !== 'unicast' ? '—' : [o.via ? ['via ', code(o.via)] : null, o.dev ? [' dev ', code(o.dev)] : null]) },
      { label: 'metric', render: (o) => String(o.metric) },
      { label: 'table', render: (o) => code(o.route_table_id) },
      { label: 'description', render: (o) => dash(o.description) },
    ],
  });
  const tables = listView({
    kind: 'route_table', params: { id: params.table }, noStatus: true,
    columns: [
      { label: 'router', render: (o) => code(o.router), fleetOnly: true },
      { label: 'name', render: (o) => o.name },
      { label: 'table', render: (o) => String(o.table) },
      { label: 'id', render: (o) => code(o.id) },
      { label: 'description', render: (o) => dash(o.description) },
    ],
    actions: (o) => h('button', { type: 'button', class: 'small', 'aria-label': `Show the routes of table ${o.name}`, onclick: () => { routes.setFilter('route_table_id', o.id); routes.el.scrollIntoView(); } }, 'Routes'),
  });
  main.append(routes.el, tables.el);
  return { refresh: () => Promise.all([routes.refresh(), tables.refresh()]) };
}

export function subnetsPage(main, params) {
  main.append(...pageHead('Subnets', 'Networks this host routes for: the router address on an interface (ip addr add), and a policy rule when the subnet uses its own route table.'));
  const list = listView({
    kind: 'subnet', params,
    columns: [
      { label: 'router', render: (o) => code(o.router), fleetOnly: true },
      { label: 'name', render: (o) => o.name },
      { label: 'cidr', render: (o) => code(o.cidr) },
      { label: 'interface', render: (o) => code(o.interface) },
      { label: 'router_ip', render: (o) => code(o.router_ip) },
      { label: 'table', render: (o) => code(o.route_table_id) },
    ],
  });
  main.append(list.el);
  return { refresh: () => list.refresh() };
}

export function groupsPage(main, params) {
  const names = new Map(); // group id -> name, from the groups list
  const group = (id) => h('a', { href: hrefFor(id) }, names.has(id) ? names.get(id) : code(id));
  main.append(...pageHead('Security groups', 'Stateful allow-lists: hosts behind this router (on the forward path) or this host itself (target local, like ufw). A covered host gets only what a rule allows; replies always pass.'));
  const rules = listView({
    kind: 'security_group_rule', params: { ...params, security_group_id: params.id || params.group },
    preset: (f) => (f.security_group_id ? { security_group_id: f.security_group_id } : {}),
    columns: [
      { label: 'group', render: (o) => group(o.security_group_id) },
      { label: 'direction', render: (o) => o.direction },
      { label: 'protocol', render: (o) => o.protocol },
      { label: 'ports', render: (o) => (o.port_from ? (o.port_to && o.port_to !== o.port_from ? `${o.port_from}–${o.port_to}` : String(o.port_from)) : 'all') },
      { label: 'peer', render: (o) => (o.remote_security_group_id ? ['group ', group(o.remote_security_group_id)] : code(o.cidr)) },
      { label: 'description', render: (o) => dash(o.description) },
    ],
  });
  const groups = listView({
    kind: 'security_group', params,
    onData: (items) => { for (const o of items) names.set(o.id, o.name); },
    columns: [
      { label: 'name', render: (o) => o.name },
      { label: 'targets', render: (o) => h('span', { class: 'chips' }, o.targets.map((t) => code(t))) },
      { label: 'id', render: (o) => code(o.id) },
      { label: 'description', render: (o) => dash(o.description) },
    ],
    actions: (o) => h('button', { type: 'button', class: 'small', 'aria-label': `Show the rules of group ${o.name}`, onclick: () => { rules.setFilter('security_group_id', o.id); rules.el.scrollIntoView(); } }, 'Rules'),
  });
  main.append(groups.el, rules.el);
  return { refresh: async () => { await groups.refresh(); await rules.refresh(); } };
}

// ---------------------------------------------------------------- routers

// Fleet mode: the routers sharing this desired state (GET /v1/routers), each with how
// far it has applied it. Single mode: this router alone.
export function routersPage(main) {
  main.append(...pageHead('Routers', 'The routers that share this desired state through etcd. Each applies its own route tables, routes, subnets and settings, and every security group; a router that stops renewing its etcd lease shows as not alive within about ten seconds.'));
  const tbody = h('tbody');
  const cols = ['name', 'alive', 'applied revision', 'failed objects', 'last apply', 'api'];
  main.append(h('section', { class: 'panel', 'aria-labelledby': 'rt-h', dataset: { list: 'routers' } }, h('h2', { id: 'rt-h' }, 'Members'),
    h('div', { class: 'tablewrap' }, h('table', { class: 'list', 'aria-labelledby': 'rt-h' },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))), tbody))));
  return {
    async refresh() {
      const r = await poll('/v1/routers');
      if (!r.changed && tbody.firstChild) return;
      clear(tbody);
      for (const m of r.data.items) {
        tbody.append(h('tr', { dataset: { name: m.name }, class: m.name === fleet.self ? 'hl' : undefined },
          h('td', { 'data-label': 'name' }, code(m.name), m.name === fleet.self ? ' (this router)' : null),
          h('td', { 'data-label': 'alive' }, h('span', { class: `badge ${m.alive ? 'active' : 'failed'}` }, m.alive ? 'alive' : 'not alive')),
          h('td', { 'data-label': 'applied revision' }, dash(m.applied_revision)),
          h('td', { 'data-label': 'failed objects' }, m.failed ? h('span', { class: 'bad' }, String(m.failed)) : '0'),
          h('td', { 'data-label': 'last apply' }, fmtTime(m.last_apply)),
          h('td', { 'data-label': 'api' }, m.api ? code(m.api) : '—')));
      }
    },
  };
}

// ---------------------------------------------------------------- interfaces

export function interfacesPage(main) {
  main.append(...pageHead('Interfaces', 'Every link of this network namespace with its addresses (ip addr), read-only. An address a subnet put there names it.'));
  const tbody = h('tbody');
  const state = { limit: 100, after: null, back: [] };
  const prev = h('button', { type: 'button', class: 'small', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', class: 'small', disabled: true }, 'Next →');
  let last = null;
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'if-h' }, h('h2', { id: 'if-h' }, 'Links'),
    h('div', { class: 'tablewrap' }, h('table', { class: 'list', 'aria-labelledby': 'if-h' },
      h('thead', {}, h('tr', {}, ['index', 'name', 'state', 'mac', 'mtu', 'addresses'].map((c) => h('th', { scope: 'col' }, c)))), tbody)),
    h('div', { class: 'pager' }, prev, next));
  main.append(sec);
  prev.addEventListener('click', () => { state.after = state.back.pop() || null; refresh(); });
  next.addEventListener('click', () => { state.back.push(state.after); state.after = last.next; refresh(); });
  async function refresh() {
    const q = new URLSearchParams({ limit: String(state.limit) });
    if (state.after) q.set('after', state.after);
    const r = await poll(`/v1/interfaces?${q}`);
    if (!r.changed && last === r.data) return;
    last = r.data;
    clear(tbody);
    for (const l of r.data.items) {
      tbody.append(h('tr', { dataset: { name: l.name } },
        h('td', { 'data-label': 'index' }, String(l.index)),
        h('td', { 'data-label': 'name' }, code(l.name)),
        h('td', { 'data-label': 'state' }, h('span', { class: `badge ${l.state === 'up' ? 'active' : 'failed'}` }, l.state)),
        h('td', { 'data-label': 'mac' }, dash(l.mac)),
        h('td', { 'data-label': 'mtu' }, String(l.mtu)),
        h('td', { 'data-label': 'addresses' }, h('ul', { class: 'plain' }, l.addresses.map((a) => h('li', {}, code(a.address),
          a.subnet_id ? [' ', h('a', { href: hrefFor(a.subnet_id) }, a.subnet_id)] : null))))));
    }
    prev.disabled = !state.back.length && !state.after;
    next.disabled = !r.data.next;
  }
  return { refresh };
}

// ---------------------------------------------------------------- events

// The audit log (GET /v1/events), newest first: paged, filtered by object and token.
export function eventsPage(main, params) {
  main.append(...pageHead('Events', 'Every write request made with the token, newest first: who (token name, client address), what (method, path, object), and how it ended (status, the revision it committed). Refused writes are here too.'));
  const state = { limit: 50, after: null, back: [], filters: {} };
  for (const n of ['object_id', 'token_name']) if (params && params[n]) state.filters[n] = params[n];
  const tbody = h('tbody');
  const prev = h('button', { type: 'button', class: 'small', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', class: 'small', disabled: true }, 'Next →');
  const toolbar = h('div', { class: 'toolbar' });
  for (const n of ['object_id', 'token_name']) {
    const id = nextId('evf');
    const input = h('input', { id, type: 'search', autocomplete: 'off', value: state.filters[n] || '', dataset: { filter: n } });
    input.addEventListener('change', () => {
      const v = input.value.trim();
      if (v) state.filters[n] = v; else delete state.filters[n];
      state.after = null;
      state.back = [];
      refresh();
    });
    toolbar.append(h('span', { class: 'tf' }, h('label', { for: id }, code(n)), input));
  }
  let last = null;
  const cols = ['time', 'token', 'client', 'request', 'object', 'status', 'revision', 'plan'];
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'ev-h', dataset: { list: 'events' } }, h('h2', { id: 'ev-h' }, 'Audit log'),
    toolbar,
    h('div', { class: 'tablewrap' }, h('table', { class: 'list', 'aria-labelledby': 'ev-h' },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))), tbody)),
    h('div', { class: 'pager' }, prev, next));
  main.append(sec);
  prev.addEventListener('click', () => { state.after = state.back.pop() || null; refresh(); });
  next.addEventListener('click', () => { state.back.push(state.after); state.after = last.next; refresh(); });
  const plan = (p) => (p ? `+${p.added} ~${p.changed} -${p.removed} =${p.unchanged}` : '—');
  async function refresh() {
    const q = new URLSearchParams({ limit: String(state.limit) });
    if (state.after) q.set('after', state.after);
    for (const [n, v] of Object.entries(state.filters)) q.set(n, v);
    const r = await poll(`/v1/events?${q}`);
    if (!r.changed && last === r.data) return;
    last = r.data;
    clear(tbody);
    for (const e of r.data.items) {
      tbody.append(h('tr', { dataset: { id: String(e.id) } },
        h('td', { 'data-label': 'time' }, fmtTime(e.time)),
        h('td', { 'data-label': 'token' }, code(e.token_name)),
        h('td', { 'data-label': 'client' }, dash(e.client)),
        h('td', { 'data-label': 'request' }, code(`${e.method} ${e.path}`)),
        h('td', { 'data-label': 'object' }, e.object_id ? h('a', { href: hrefFor(e.object_id) }, e.object_id) : '—'),
        h('td', { 'data-label': 'status' }, h('span', { class: `badge ${e.status < 400 ? 'active' : 'failed'}` }, String(e.status))),
        h('td', { 'data-label': 'revision' }, dash(e.revision)),
        h('td', { 'data-label': 'plan' }, plan(e.plan))));
    }
    prev.disabled = !state.back.length && !state.after;
    next.disabled = !r.data.next;
  }
  return { refresh };
}

// ---------------------------------------------------------------- settings

export function settingsPage(main) {
  main.append(...pageHead('Settings', 'IP forwarding of this namespace (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding). Until the first save vrouter leaves it as it finds it.'));
  const general = h('div', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true });
  const v4 = h('input', { type: 'checkbox', id: 'fwd-v4', name: 'forwarding.ipv4', 'aria-describedby': 'fwd-v4-hint' });
  const v6 = h('input', { type: 'checkbox', id: 'fwd-v6', name: 'forwarding.ipv6', 'aria-describedby': 'fwd-v6-hint' });
  const info = h('div', { class: 'settings-state' });
  const exp = exportPanel('');
  let etag = null;
  let dirty = false;
  const who = routerPicker('set-router', 'whose settings these are (fleet mode)', () => { dirty = false; refresh(true); });
  const path = () => (fleet.on ? `/v1/settings?router=${encodeURIComponent(who.value())}` : '/v1/settings');
  const body = () => ({ forwarding: { ipv4: v4.checked, ipv6: v6.checked } });
  const tfBody = () => (fleet.on ? { router: who.value(), ...body() } : body());
  const update = () => exp.update({ curl: curlFor('PUT', path(), body(), etag), resource: tfSettingsResource(body(), fleet.on ? who.value() : null), module: tfSettingsModule(tfBody()) });
  const form = h('form', { class: 'panel narrow', 'aria-labelledby': 'fwd-h' },
    h('h2', { id: 'fwd-h' }, 'Forwarding'),
    who.el,
    general,
    h('div', { class: 'check' }, v4, h('label', { for: 'fwd-v4' }, code('forwarding.ipv4')), h('p', { class: 'hint', id: 'fwd-v4-hint' }, 'route IPv4 packets between interfaces')),
    h('div', { class: 'check' }, v6, h('label', { for: 'fwd-v6' }, code('forwarding.ipv6')), h('p', { class: 'hint', id: 'fwd-v6-hint' }, 'route IPv6 packets between interfaces')),
    exp.el,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', dataset: { write: '' } }, 'Save')));
  form.addEventListener('change', () => { dirty = true; update(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    general.hidden = true;
    try {
      const r = await api('PUT', path(), body(), { ifMatch: etag && !etag.startsWith('"0') ? etag : undefined });
      dirty = false;
      etag = r.etag;
      toast(`Saved settings: ${r.data.status ? r.data.status.state : 'stored'}`);
      show(r.data);
    } catch (e) {
      clear(general).append(h('p', {}, e instanceof ApiError && e.status === 412
        ? 'Someone changed the settings after you opened this page (ETag mismatch). Nothing was changed. The page now shows the current values.'
        : `${e.status || ''} ${e.message}`));
      general.hidden = false;
      general.focus();
      dirty = false;
      refresh(true);
    }
  });
  main.append(info, form);
  function show(s) {
    clear(info).append(dl([['managed', s.managed ? 'yes: vrouter enforces these values' : 'no: left as found until the first save'], ['status', badge(s.status)], ['updated', fmtTime(s.updated_at)]]));
    if (!dirty) { v4.checked = s.forwarding.ipv4; v6.checked = s.forwarding.ipv6; }
    update();
  }
  async function refresh(force) {
    const r = await poll(path());
    if (!r.changed && !force) return;
    etag = r.etag;
    show(r.data);
  }
  return { refresh };
}

// ---------------------------------------------------------------- config

function planTable(db) {
  const kinds = ['route_tables', 'routes', 'subnets', 'security_groups', 'security_group_rules'];
  return h('table', { class: 'list plan' },
    h('caption', {}, 'Database: what the document changes in the desired state'),
    h('thead', {}, h('tr', {}, ['kind', 'added', 'changed', 'removed', 'unchanged'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, kinds.map((k) => {
      const p = db[k];
      return h('tr', { dataset: { kind: k } }, h('th', { scope: 'row' }, k),
        ['added', 'changed', 'removed', 'unchanged'].map((x) => h('td', { 'data-label': x, title: (p[`${x}_ids`] || []).join(' ') }, String(p[x]))));
    })));
}

function kernelPlan(kp) {
  if (!kp) return null;
  if (kp.error) return h('p', { class: 'form-error' }, `kernel plan: ${kp.error}`);
  const items = [];
  for (const k of ['routes', 'addresses', 'rules']) for (const it of kp[k].items) items.push(h('li', { class: it.op }, h('span', { class: `op ${it.op}` }, it.op), ' ', code(it.what)));
  for (const it of kp.nftables.items || []) items.push(h('li', {}, h('span', { class: 'op change' }, 'nft'), ' ', code(it)));
  return h('div', {},
    h('h3', {}, 'Kernel: what applying it would do'),
    h('p', {}, `routes +${kp.routes.add} ~${kp.routes.change} −${kp.routes.remove}; addresses +${kp.addresses.add} −${kp.addresses.remove}; rules +${kp.rules.add} −${kp.rules.remove}; nftables: ${kp.nftables.action}; forwarding ipv4 ${kp.forwarding.ipv4.now} → ${kp.forwarding.ipv4.then}, ipv6 ${kp.forwarding.ipv6.now} → ${kp.forwarding.ipv6.then}`),
    items.length ? h('ul', { class: 'ops' }, items) : h('p', {}, 'No kernel change.'));
}

export function configPage(main) {
  main.append(...pageHead('Config', 'The whole desired state as one document (GET /v1/config). Edit it, preview what PUT would do (a dry run changes nothing), then apply the previewed plan.'));
  const ta = h('textarea', { id: 'cfg-doc', class: 'doc', rows: '18', spellcheck: 'false', 'aria-describedby': 'cfg-hint' });
  const general = h('div', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true });
  const plan = h('section', { class: 'panel', 'aria-labelledby': 'cfg-plan-h', hidden: true });
  const rev = h('span', { dataset: { k: 'config.etag' } });
  const applyBtn = h('button', { type: 'button', class: 'danger', disabled: true, dataset: { write: '' } }, 'Apply this plan');
  const exp = exportPanel('');
  let etag = null;
  let planned = null; // the exact text that was previewed
  const fail = (e) => {
    clear(general).append(h('p', {}, e instanceof ApiError
      ? `${e.status} ${e.problem.title || ''}: ${e.message}${e.status === 412 ? '. The desired state changed since you loaded it; reload, then preview again.' : ''}`
      : e.message));
    if (e instanceof ApiError && e.status === 412) general.append(h('button', { type: 'button', onclick: load }, 'Reload'));
    general.hidden = false;
    general.focus();
  };
  const who = routerPicker('cfg-router', 'the scope: this router\'s route tables, routes, subnets and settings, and the fleet\'s security groups', () => load().catch(fail));
  const scoped = (p) => (fleet.on ? `${p}${p.includes('?') ? '&' : '?'}router=${encodeURIComponent(who.value())}` : p);
  async function load() {
    general.hidden = true;
    const r = await api('GET', scoped('/v1/config'));
    etag = r.etag;
    ta.value = JSON.stringify(r.data, null, 2);
    rev.textContent = etag;
    const q = (x) => `'${x}'`;
    exp.update({
      curl: `curl -sS -H "Authorization: Bearer $TOKEN" ${q(`${location.origin}${scoped('/v1/config')}`)} > vrouter-config.json\n# edit vrouter-config.json, then see what it would do:\n${curlFor('PUT', scoped('/v1/config?dry_run=true'), undefined, etag).replace(' -X PUT', ' -X PUT --json @vrouter-config.json')}\n# and apply it:\n${curlFor('PUT', scoped('/v1/config'), undefined, etag).replace(' -X PUT', ' -X PUT --json @vrouter-config.json')}`,
      resource: '# /v1/config is the whole desired state at once; Terraform manages objects one by one:\n# each form of this UI shows its restapi_object block.',
      module: '# each form of this UI shows its module call (deploy/terraform/modules/<kind>).',
    });
    planned = null;
    applyBtn.disabled = true;
    plan.hidden = true;
  }
  const parse = () => {
    try { return JSON.parse(ta.value); } catch (e) { fail(new Error(`The document is not valid JSON: ${e.message}`)); return null; }
  };
  async function preview() {
    general.hidden = true;
    const doc = parse();
    if (!doc) return;
    try {
      const r = await api('PUT', scoped('/v1/config?dry_run=true'), doc, { ifMatch: etag });
      planned = ta.value;
      applyBtn.disabled = false;
      clear(plan).append(h('h2', { id: 'cfg-plan-h' }, r.data.changed ? 'Plan' : 'Plan: nothing would change'),
        planTable(r.data.plan.database), kernelPlan(r.data.plan.kernel), h('div', { class: 'actions' }, applyBtn));
      plan.hidden = false;
      plan.scrollIntoView();
    } catch (e) { fail(e); }
  }
  applyBtn.addEventListener('click', async () => {
    if (ta.value !== planned) { fail(new Error('The document changed after the preview: preview it again.')); applyBtn.disabled = true; return; }
    const doc = parse();
    if (!doc) return;
    applyBtn.disabled = true;
    try {
      const r = await api('PUT', scoped('/v1/config'), doc, { ifMatch: etag });
      toast(`Applied: revision ${r.data.revision}${r.data.apply && !r.data.apply.converged ? ' (still applying)' : ''}`);
      await load();
    } catch (e) { fail(e); }
  });
  ta.addEventListener('input', () => { applyBtn.disabled = ta.value !== planned; });
  main.append(h('section', { class: 'panel', 'aria-labelledby': 'cfg-h' },
    h('h2', { id: 'cfg-h' }, 'Document ', h('small', {}, 'ETag ', rev)),
    who.el,
    general,
    h('label', { for: 'cfg-doc' }, code('PUT /v1/config'), ' body'),
    ta,
    h('p', { class: 'hint', id: 'cfg-hint' }, 'Keys: route_tables, routes, subnets, security_groups, security_group_rules, settings. Objects keep their ids; a kind left out is emptied (settings: left as is).'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', onclick: preview, dataset: { write: '' } }, 'Preview (dry run)'),
      h('button', { type: 'button', onclick: () => load().catch(fail) }, 'Reload'),
    ),
    exp.el), plan);
  let loaded = false;
  return {
    async refresh() {
      if (!loaded) { loaded = true; await load().catch(fail); }
    },
  };
}
