// Small DOM helpers. Text always goes in as text nodes: nothing the API returns is
// ever parsed as HTML.

const SVGNS = 'http://www.w3.org/2000/svg';

function build(el, attrs, kids) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of kids.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h('button', {class: 'x', onclick: f}, 'text', child...)
export function h(tag, attrs, ...kids) {
  return build(document.createElement(tag), attrs, kids);
}

export function s(tag, attrs, ...kids) {
  return build(document.createElementNS(SVGNS, tag), attrs, kids);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let uid = 0;
export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

// A short-lived message in the polite live region.
export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('p', { class: `toast ${kind}` }, text);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 5000);
}

export function badge(status) {
  if (!status) return h('span', { class: 'badge unknown' }, 'unmanaged');
  const st = status.state || 'pending';
  return h('span', { class: 'state' },
    h('span', { class: `badge ${st}` }, st),
    status.reason ? h('span', { class: 'reason' }, status.reason) : null);
}

export function code(text) {
  return h('code', {}, text);
}

// The page an object id belongs to, for links from anywhere.
export function hrefFor(id) {
  if (!id) return '#/';
  if (id.startsWith('rtb-')) return `#/routes?table=${encodeURIComponent(id)}`;
  if (id.startsWith('rt-')) return `#/routes?id=${encodeURIComponent(id)}`;
  if (id.startsWith('subnet-')) return `#/subnets?id=${encodeURIComponent(id)}`;
  if (id.startsWith('sgr-')) return `#/security-groups?rule=${encodeURIComponent(id)}`;
  if (id.startsWith('sg-')) return `#/security-groups?id=${encodeURIComponent(id)}`;
  if (id === 'settings') return '#/settings';
  return '#/';
}

// Copy text; falls back to selecting it when the clipboard is not available.
export async function copyText(text, pre) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard');
  } catch {
    if (pre) {
      const r = document.createRange();
      r.selectNodeContents(pre);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(r);
    }
    toast('Selected: press Ctrl+C to copy');
  }
}
