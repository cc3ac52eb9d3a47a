// The captures page: the article's tcpdump through the API. Start a bounded capture
// (POST /v1/diagnostics/captures), watch its packet count grow, stop it, download its
// pcap file (GET …/{id}/pcap, opened by Wireshark or `tcpdump -r`), delete it.

import { h, clear, code, toast } from './dom.js';
import { api, auth, ApiError } from './api.js';
import { curlFor } from './kinds.js';

const CAPS = '/v1/diagnostics/captures';

// [name, label, input attributes, hint]
const FIELDS = [
  ['interface', { required: true }, 'The link to listen on, both directions (GET /v1/interfaces).'],
  ['filter', { type: 'text', placeholder: 'icmp and host 192.168.100.2', autocomplete: 'off', spellcheck: 'false' },
    'pcap filter syntax, as tcpdump takes it; empty keeps every packet.'],
  ['max_packets', { type: 'number', min: 1, max: 10000, value: 100, required: true }, 'Ends the capture at this many packets (1 to 10000).'],
  ['max_seconds', { type: 'number', min: 1, max: 60, value: 10, required: true }, 'Ends the capture after this many seconds (1 to 60).'],
];

function fmtBytes(n) {
  return n < 10240 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`;
}

function fmtTime(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : '—';
}

function stateBadge(c) {
  const cls = { running: 'pending', done: 'active', failed: 'failed' }[c.state] || 'unknown';
  const why = c.state === 'failed' ? c.error : c.stop_reason;
  return h('span', { class: 'state' }, h('span', { class: `badge ${cls}` }, c.state), why ? h('span', { class: 'hint' }, why) : null);
}

// Fetch the file with the tab's token and hand it to the browser as NAME.pcap.
async function download(c) {
  const res = await fetch(c.pcap, { headers: { Authorization: `Bearer ${auth.token}` }, cache: 'no-store' });
  if (!res.ok) {
    let detail = `HTTP ${res.status}`;
    try { detail = (await res.json()).detail || detail; } catch { /* not JSON */ }
    throw new ApiError(res.status, { detail }, c.pcap);
  }
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: `${c.id}.pcap`, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export function capturesPage(main) {
  main.append(h('h1', { tabindex: '-1' }, 'Captures'),
    h('p', { class: 'intro' }, 'Bounded packet captures on this router\'s links: tcpdump as an API. A capture ends at its packet or time bound (or when stopped); its pcap file opens in Wireshark or with tcpdump -r. At most 4 are held at once; a downloaded one is forgotten a minute later, any other an hour after it ended.'));
  const general = h('div', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true });
  const inputs = {};
  const errs = {};
  const form = h('form', { class: 'panel narrow', 'aria-labelledby': 'cap-h', novalidate: true }, h('h2', { id: 'cap-h' }, 'New capture'), general);
  for (const [name, attrs, hint] of FIELDS) {
    const id = `cap-${name}`;
    const input = name === 'interface'
      ? h('select', { id, name, required: true, 'aria-describedby': `${id}-hint ${id}-err` })
      : h('input', { id, name, ...attrs, 'aria-describedby': `${id}-hint ${id}-err` });
    inputs[name] = input;
    errs[name] = h('p', { class: 'err', id: `${id}-err`, hidden: true });
    form.append(h('div', { class: 'field' },
      h('label', { for: id }, code(name)), input, h('p', { class: 'hint', id: `${id}-hint` }, hint), errs[name]));
  }
  // The same calls as curl: start, then download (the UI teaches the API).
  const pre = h('pre', { tabindex: '0', 'aria-label': 'curl', dataset: { export: 'curl' } });
  form.append(h('details', { class: 'export' }, h('summary', {}, 'Show as curl'),
    h('p', { class: 'hint' }, 'Set ', code('TOKEN=$(sudo cat /var/lib/vrouter/token)'), ' first; ', code('ID'), ' is the id the first call answers.'),
    h('div', { class: 'exp' }, pre)));
  form.append(h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', dataset: { write: '' } }, 'Start capture')));

  const tbody = h('tbody');
  const cols = ['id', 'interface', 'filter', 'state', 'packets', 'bytes', 'started', 'ended', ''];
  const sec = h('section', { class: 'panel', 'aria-labelledby': 'caps-h', dataset: { list: 'captures' } },
    h('h2', { id: 'caps-h' }, 'Captures held'),
    h('div', { class: 'tablewrap' }, h('table', { class: 'list', 'aria-labelledby': 'caps-h' },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c || h('span', { class: 'sr' }, 'actions'))))), tbody)));
  main.append(form, sec);

  api('GET', '/v1/interfaces?limit=1000').then(({ data }) => {
    for (const l of data.items) if (l.name !== 'lo') inputs.interface.append(h('option', { value: l.name }, l.name));
    showCurl();
  }).catch((e) => toast(`Cannot list the interfaces: ${e.message}`, 'error'));

  function showErrors(e) {
    const field = e instanceof ApiError && e.errors[0] ? e.errors[0].field : null;
    if (field && inputs[field]) {
      errs[field].textContent = e.errors[0].message;
      errs[field].hidden = false;
      inputs[field].setAttribute('aria-invalid', 'true');
      inputs[field].focus();
      return;
    }
    clear(general).append(h('p', {}, e instanceof ApiError ? `${e.status}: ${e.message}` : `The daemon did not answer: ${e.message}`));
    general.hidden = false;
    general.focus();
  }

  const body = () => {
    const b = { interface: inputs.interface.value, filter: inputs.filter.value.trim() };
    for (const n of ['max_packets', 'max_seconds']) {
      const v = inputs[n].value.trim();
      // A number where one was typed; anything else as typed, for the API to name.
      if (v !== '') b[n] = /^-?\d+$/.test(v) ? Number(v) : v;
    }
    return b;
  };
  const showCurl = () => {
    pre.textContent = `${curlFor('POST', CAPS, body())}\n\n${curlFor('GET', `${CAPS}/ID`)}\n\n${curlFor('GET', `${CAPS}/ID/pcap`).replace(/^curl -sS/, 'curl -sS -o capture.pcap')}`;
  };
  form.addEventListener('input', showCurl);
  form.addEventListener('change', showCurl);
  showCurl();

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    general.hidden = true;
    for (const n of Object.keys(inputs)) { errs[n].hidden = true; inputs[n].removeAttribute('aria-invalid'); }
    try {
      const r = await api('POST', CAPS, body());
      toast(`Capture ${r.data.id} started on ${r.data.interface}`);
      refresh();
    } catch (e) {
      showErrors(e);
    }
  });

  const act = (label, fn, write) => h('button', { type: 'button', class: 'small', dataset: write ? { write: '' } : undefined, onclick: async () => {
    try { await fn(); } catch (e) { toast(e.message, 'error'); }
    refresh();
  } }, label);

  let last = '';
  async function refresh() {
    const { data } = await api('GET', CAPS);
    const text = JSON.stringify(data.items);
    if (text === last) return;
    last = text;
    clear(tbody);
    if (!data.items.length) tbody.append(h('tr', { class: 'empty' }, h('td', { colspan: cols.length }, 'No capture is held.')));
    for (const c of data.items) {
      tbody.append(h('tr', { dataset: { id: c.id, state: c.state } },
        h('td', { 'data-label': 'id' }, code(c.id)),
        h('td', { 'data-label': 'interface' }, c.interface),
        h('td', { 'data-label': 'filter' }, c.filter ? code(c.filter) : '—'),
        h('td', { 'data-label': 'state' }, stateBadge(c)),
        h('td', { 'data-label': 'packets', dataset: { k: 'packets' } }, `${c.packets} of ${c.max_packets}`),
        h('td', { 'data-label': 'bytes' }, fmtBytes(c.bytes)),
        h('td', { 'data-label': 'started' }, fmtTime(c.started_at)),
        h('td', { 'data-label': 'ended' }, fmtTime(c.ended_at)),
        h('td', { 'data-label': 'actions' },
          c.state === 'running'
            ? act('Stop', () => api('POST', `${CAPS}/${c.id}/stop`), true)
            : act('Download', () => download(c)),
          ' ',
          act('Delete', () => api('DELETE', `${CAPS}/${c.id}`), true))));
    }
  }
  return { refresh };
}
