// The topology picture, drawn from live state: this host, its interfaces with their
// addresses and state, and per interface what hangs off it (subnets, the next hops of
// routes, the hosts a security group guards). Every element links to its object.

import { h, s, clear, hrefFor } from './dom.js';
import { all, poll } from './api.js';

// ---------------------------------------------------------------- addresses

function parseIp(text) {
  if (!text) return null;
  if (text.includes(':')) {
    let [head, tail] = text.split('::');
    const hp = head ? head.split(':') : [];
    const tp = tail !== undefined ? (tail ? tail.split(':') : []) : null;
    const parts = tp ? [...hp, ...Array(8 - hp.length - tp.length).fill('0'), ...tp] : hp;
    if (parts.length !== 8) return null;
    let n = 0n;
    for (const p of parts) n = (n << 16n) + BigInt(parseInt(p || '0', 16));
    return { v: 6, n };
  }
  const o = text.split('.').map(Number);
  if (o.length !== 4 || o.some((x) => !(x >= 0 && x <= 255))) return null;
  return { v: 4, n: BigInt(((o[0] << 24) >>> 0) + (o[1] << 16) + (o[2] << 8) + o[3]) };
}

function parseCidr(text) {
  if (text === 'default') return { v: 4, n: 0n, len: 0 };
  const [a, l] = String(text).split('/');
  const ip = parseIp(a);
  if (!ip) return null;
  const max = ip.v === 4 ? 32 : 128;
  return { ...ip, len: l === undefined ? max : Number(l) };
}

function contains(net, ip) {
  if (!net || !ip || net.v !== ip.v) return false;
  const bits = BigInt((net.v === 4 ? 32 : 128) - net.len);
  return net.n >> bits === ip.n >> bits;
}

// ---------------------------------------------------------------- drawing

const W = 980;
const LINE = 26;
const CH = 7.2; // average width of a 12 px character

function fit(text, width) {
  const max = Math.floor(width / CH);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function shield(x, y) {
  return s('path', { class: 'shield', d: `M${x} ${y}l7 -3l7 3v5c0 5 -3.5 8 -7 10c-3.5 -2 -7 -5 -7 -10z` });
}

// A clickable box with one line of text.
function item(x, y, w, text, href, cls, label, icon) {
  const a = s('a', { href, 'aria-label': `${text}: ${label}`, class: `node ${cls}` },
    s('title', {}, label),
    s('rect', { x, y, width: w, height: LINE - 6, rx: 5 }));
  if (icon) a.append(shield(x + 6, y + 4));
  a.append(s('text', { x: x + (icon ? 26 : 8), y: y + 14 }, fit(text, w - (icon ? 30 : 12))));
  return a;
}

function link(x1, y1, x2, y2, cls) {
  const mx = (x1 + x2) / 2;
  return s('path', { class: `wire ${cls || ''}`, d: `M${x1} ${y1}C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}` });
}

function draw(data) {
  const { ifaces, subnets, routes, groups, status } = data;
  const svg = s('svg', { viewBox: `0 0 ${W} 100`, role: 'group', 'aria-label': 'Topology of this host', class: 'topo' });
  const nets = ifaces.map((l) => ({ l, nets: l.addresses.map((a) => ({ a, c: parseCidr(a.address) })) }));
  const rows = nets.map(({ l, nets: ns }) => ({ l, ns, items: [] }));
  const dropped = [];
  const nowhere = [];
  const elsewhere = [];
  const locals = [];

  const rowForIp = (ip) => rows.find((r) => r.ns.some((n) => contains(n.c, ip)));
  const rowForName = (name) => rows.find((r) => r.l.name === name);

  for (const sn of subnets) {
    const r = rowForName(sn.interface);
    const it = { text: `subnet ${sn.name} ${sn.cidr} (router ${sn.router_ip})`, href: hrefFor(sn.id), cls: sn.status.state, label: `subnet ${sn.name}, ${sn.cidr} on ${sn.interface}, ${sn.status.state}` };
    (r ? r.items : nowhere).push(it);
  }
  const hops = new Map();
  for (const rt of routes) {
    const st = rt.status.state;
    if (rt.type !== 'unicast') {
      dropped.push({ text: `${rt.type} ${rt.destination}`, href: hrefFor(rt.id), cls: `${st} drop`, label: `${rt.type} route to ${rt.destination}, ${st}` });
      continue;
    }
    const r = rt.dev ? rowForName(rt.dev) : rowForIp(parseIp(rt.via));
    const key = `${r ? r.l.name : ''}|${rt.via || `dev ${rt.dev}`}`;
    if (!hops.has(key)) hops.set(key, { r, via: rt.via, dev: rt.dev, routes: [] });
    hops.get(key).routes.push(rt);
  }
  for (const hp of hops.values()) {
    for (const rt of hp.routes) {
      const st = rt.status.state;
      const text = `${rt.destination} → ${rt.via ? `via ${rt.via}` : `dev ${rt.dev}`}${rt.route_table_id !== 'rtb-main' ? ` (${rt.route_table_id})` : ''}`;
      const it = { text, href: hrefFor(rt.id), cls: st, label: `route to ${rt.destination} ${rt.via ? `via ${rt.via}` : `dev ${rt.dev}`}, ${st}${rt.status.reason ? `: ${rt.status.reason}` : ''}` };
      (hp.r ? hp.r.items : nowhere).push(it);
    }
  }
  for (const g of groups) {
    for (const t of g.targets) {
      const it = { text: `${g.name} guards ${t}`, href: hrefFor(g.id), cls: g.status.state, label: `security group ${g.name} guards ${t}, ${g.status.state}`, icon: true };
      if (t === 'local') { locals.push(it); continue; }
      const r = rowForIp(parseCidr(t));
      (r ? r.items : elsewhere).push(it);
    }
  }

  const routerX = 16;
  const routerW = 190;
  const ifX = 250;
  const ifW = 230;
  const itX = 540;
  const itW = Math.min(420, W - itX - 16);
  let y = 16;
  const body = s('g');
  const routerTop = y;
  for (const r of rows) {
    const addrs = r.l.addresses.map((a) => a.address);
    const ifH = 30 + Math.max(1, addrs.length) * 16;
    const h2 = Math.max(ifH, r.items.length * LINE) + 14;
    // Named by its <title> (no aria-label: the visible text is split over lines).
    const a = s('a', { href: '#/interfaces', class: `node iface ${r.l.state === 'up' ? 'active' : 'failed'}` },
      s('title', {}, `interface ${r.l.name}, ${r.l.state}, ${addrs.join(', ') || 'no address'}`),
      s('rect', { x: ifX, y, width: ifW, height: ifH, rx: 8 }),
      s('text', { x: ifX + 10, y: y + 18, class: 'strong' }, `${r.l.name} ${r.l.state}`),
      addrs.map((ad, i) => s('text', { x: ifX + 10, y: y + 36 + i * 16, class: 'mono' }, fit(ad, ifW - 20))),
      addrs.length ? null : s('text', { x: ifX + 10, y: y + 36, class: 'muted' }, 'no address'));
    body.append(link(routerX + routerW, routerTop + 40, ifX, y + ifH / 2, r.l.state === 'up' ? '' : 'down'), a);
    r.items.forEach((it, i) => {
      const iy = y + i * LINE;
      body.append(link(ifX + ifW, y + ifH / 2, itX, iy + (LINE - 6) / 2, it.cls), item(itX, iy, itW, it.text, it.href, it.cls, it.label, it.icon));
    });
    y += h2;
  }
  const extra = [['dropped here (blackhole, unreachable, prohibit)', dropped], ['next hop on no connected network', nowhere], ['guarded, on no connected network', elsewhere]];
  for (const [title, list] of extra) {
    if (!list.length) continue;
    body.append(s('text', { x: ifX, y: y + 12, class: 'muted' }, title));
    y += 20;
    list.forEach((it, i) => body.append(item(ifX, y + i * LINE, W - ifX - 16, it.text, it.href, it.cls, it.label, it.icon)));
    y += list.length * LINE + 10;
  }
  const fwd = status ? status.forwarding : null;
  const rH = Math.max(90, 70 + locals.length * LINE);
  const fwdText = fwd ? `forwarding v4 ${fwd.ipv4 ? 'on' : 'off'}, v6 ${fwd.ipv6 ? 'on' : 'off'}` : '';
  const router = s('a', { href: '#/', class: 'node router' },
    s('title', {}, `this host, ${fwdText} (overview)`),
    s('rect', { x: routerX, y: routerTop, width: routerW, height: rH, rx: 10 }),
    s('text', { x: routerX + 12, y: routerTop + 24, class: 'strong' }, 'this host'),
    s('text', { x: routerX + 12, y: routerTop + 44, class: 'muted' }, fwdText));
  const g = s('g');
  g.append(router);
  locals.forEach((it, i) => g.append(item(routerX + 8, routerTop + 58 + i * LINE, routerW - 16, it.text.replace(' guards local', ' (local)'), it.href, it.cls, it.label, true)));
  svg.append(body, g);
  const height = Math.max(y, routerTop + rH) + 16;
  svg.setAttribute('viewBox', `0 0 ${W} ${height}`);
  svg.setAttribute('height', String(height));
  return svg;
}

export function topologyPage(main) {
  main.append(h('h1', { tabindex: '-1' }, 'Topology'),
    h('p', { class: 'intro' }, 'Drawn from live state: interfaces (GET /v1/interfaces), subnets, routes and the hosts security groups guard. Select any element to open it.'));
  const wrap = h('div', { class: 'topowrap', tabindex: '0', role: 'region', 'aria-label': 'Topology picture (scrolls sideways on small screens)' });
  const legend = h('p', { class: 'legend' },
    h('span', { class: 'badge active' }, 'active'), ' ', h('span', { class: 'badge pending' }, 'pending'), ' ', h('span', { class: 'badge failed' }, 'failed'),
    ' — dashed: a link that is down.');
  main.append(wrap, legend);
  let sig = '';
  return {
    async refresh() {
      const [ifaces, subnets, routes, groups, st] = await Promise.all([
        all('/v1/interfaces'), all('/v1/subnets'), all('/v1/routes'), all('/v1/security-groups'), poll('/v1/status'),
      ]);
      const data = { ifaces: ifaces.filter((l) => l.name !== 'lo'), subnets, routes, groups, status: st.data };
      const next = JSON.stringify(data);
      if (next === sig) return;
      sig = next;
      const focused = document.activeElement && wrap.contains(document.activeElement) ? document.activeElement.getAttribute('href') : null;
      clear(wrap).append(draw(data));
      if (focused) {
        const again = wrap.querySelector(`a[href="${CSS.escape(focused)}"]`);
        if (again) again.focus();
      }
    },
  };
}
