// Reachability: "why can't A reach B?" asked of POST /v1/diagnostics/reachability.
// The answer's checks in path order, what blocks, and the API call that fixes it,
// which this page can send as it stands (or shows as curl, for another host).

import { h, clear, code, hrefFor, nextId, toast, copyText } from './dom.js';
import { api, ApiError } from './api.js';
import { curlFor } from './kinds.js';

const PATH = '/v1/diagnostics/reachability';
const VERDICT_BADGE = { pass: 'active', fail: 'failed', skip: 'off', unknown: 'pending' };
const CHECK_WORDS = {
  source: 'source',
  destination: 'destination',
  forwarding: 'forwarding',
  route: 'route lookup',
  security_group_egress: 'egress (source\'s groups)',
  security_group_ingress: 'ingress (destination\'s groups)',
  return_path: 'return path',
  observation: 'connection tracking',
};

function field(name, label, input, hint) {
  const id = input.id;
  return h('div', { class: 'field' },
    h('label', { for: id }, code(name), label ? ` ${label}` : ''),
    input,
    h('p', { class: 'hint', id: `${id}-hint` }, hint),
    h('p', { class: 'err', id: `${id}-err`, hidden: true }));
}

function idLinks(ids) {
  if (!ids || !ids.length) return '—';
  return ids.map((id, i) => [i ? ', ' : '', h('a', { href: hrefFor(id) }, id)]);
}

function hopsTable(hops) {
  const cols = ['check', 'verdict', 'objects', 'kernel', 'detail'];
  return h('div', { class: 'tablewrap' }, h('table', { class: 'list', 'aria-label': 'Checks in path order' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, hops.map((x) => h('tr', { dataset: { check: x.check, verdict: x.verdict } },
      h('td', { 'data-label': 'check' }, CHECK_WORDS[x.check] || x.check),
      h('td', { 'data-label': 'verdict' }, h('span', { class: `badge ${VERDICT_BADGE[x.verdict] || ''}` }, x.verdict)),
      h('td', { 'data-label': 'objects' }, idLinks(x.ids)),
      h('td', { 'data-label': 'kernel' }, x.kernel ? code(x.kernel) : '—'),
      h('td', { 'data-label': 'detail' }, x.detail))))));
}

export function reachPage(main) {
  main.append(h('h1', { tabindex: '-1' }, 'Reachability'),
    h('p', { class: 'intro' }, 'Why can\'t A reach B? This host checks the flow against its desired state and its live kernel: where both ends sit, forwarding, the kernel\'s route lookup, security groups both ways, the way back, and what connection tracking saw. It reads only; the fix it suggests is an API call you choose to send.'));
  const general = h('div', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true });
  const mk = (name, attrs) => h('input', { id: nextId(`r-${name}`), name, autocomplete: 'off', spellcheck: 'false', ...attrs });
  const src = mk('source', { required: true, placeholder: '192.168.150.2' });
  const dst = mk('destination', { required: true, placeholder: '192.168.100.2' });
  const port = mk('port', { inputmode: 'numeric', placeholder: '12345' });
  const proto = h('select', { id: nextId('r-protocol'), name: 'protocol' }, ['tcp', 'udp', 'icmp', 'icmpv6'].map((p) => h('option', { value: p }, p)));
  for (const el of [src, dst, port, proto]) el.setAttribute('aria-describedby', `${el.id}-hint ${el.id}-err`);
  const result = h('section', { class: 'panel', 'aria-live': 'polite', 'aria-labelledby': 'reach-h', hidden: true, dataset: { result: '' } });
  const form = h('form', { class: 'panel narrow', novalidate: true, 'aria-label': 'Question' },
    general,
    field('source', '', src, 'the address the flow comes from'),
    field('destination', '', dst, 'the address it goes to, same family'),
    field('protocol', '', proto, 'icmp for IPv4, icmpv6 for IPv6'),
    field('port', '', port, 'destination port, 1–65535, for tcp and udp only'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Check')));
  const portNeeded = () => { port.disabled = proto.value.startsWith('icmp'); };
  proto.addEventListener('change', portNeeded);
  main.append(form, result);

  function body() {
    const b = { source: src.value.trim(), destination: dst.value.trim(), protocol: proto.value };
    const p = port.value.trim();
    if (!port.disabled && p !== '') b.port = /^-?\d+$/.test(p) ? Number(p) : p;
    return b;
  }

  function showProblem(err) {
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    for (const el of form.querySelectorAll('.err')) { el.textContent = ''; el.hidden = true; }
    clear(general);
    general.hidden = true;
    const e = err instanceof ApiError ? err.errors[0] : null;
    const input = e && form.elements.namedItem(e.field);
    if (input) {
      const slot = form.querySelector(`#${input.id}-err`);
      slot.textContent = e.message;
      slot.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    general.append(h('p', {}, err instanceof ApiError ? `${err.status} ${err.message}` : `The request did not reach the daemon: ${err.message}`));
    general.hidden = false;
    general.focus();
  }

  function suggestion(s) {
    if (!s) return null;
    const pre = h('pre', { tabindex: '0', 'aria-label': 'the suggestion as curl', dataset: { export: 'curl' } },
      curlFor(s.method, s.path, s.body === null ? undefined : s.body));
    const acts = h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'small', onclick: () => copyText(pre.textContent, pre) }, 'Copy curl'));
    if (s.host === 'this' && s.complete) {
      acts.append(h('button', { type: 'button', class: 'primary', dataset: { write: '', apply: '' }, onclick: () => applyFix(s) }, `Send ${s.method} ${s.path}`));
    }
    return h('div', { class: 'fix', dataset: { suggestion: '' } },
      h('h3', {}, 'The fix'),
      h('p', {}, s.host === 'destination' ? 'Send this to the vrouterd of the destination host: ' : 'Send this to this host\'s vrouterd: ', code(`${s.method} ${s.path}`)),
      s.note ? h('p', { class: 'hint' }, s.note) : null,
      pre, acts);
  }

  function show(r) {
    const b = r.blocking;
    clear(result).append(
      h('h2', { id: 'reach-h' }, `${r.source} → ${r.destination} ${r.protocol}${r.port ? ` port ${r.port}` : ''}: `,
        h('span', { class: `badge ${r.reachable ? 'active' : 'failed'}`, dataset: { reachable: String(r.reachable) } }, r.reachable ? 'reachable' : 'blocked')),
      b ? h('p', { class: 'blocking', dataset: { code: b.code } }, h('strong', {}, b.code), b.object_id ? [' ', h('a', { href: hrefFor(b.object_id) }, b.object_id)] : null, ` — ${b.message}`) : null,
      suggestion(r.suggestion),
      hopsTable(r.hops));
    result.hidden = false;
  }

  async function ask() {
    const r = await api('POST', PATH, body());
    show(r.data);
    return r.data;
  }

  async function applyFix(s) {
    try {
      const r = await api(s.method, s.path, s.body === null ? undefined : s.body);
      toast(`${s.method} ${s.path}: ${r.status}${r.data && r.data.id ? ` (${r.data.id})` : ''}`);
      await ask();
    } catch (e) {
      toast(`${s.method} ${s.path} refused: ${e.message}`, 'error');
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
      for (const el of form.querySelectorAll('.err')) el.hidden = true;
      general.hidden = true;
      await ask();
    } catch (e) {
      result.hidden = true;
      showProblem(e);
    }
  });
  return { refresh() {} };
}
