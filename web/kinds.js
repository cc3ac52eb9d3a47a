// What the UI knows about each resource: its path, its writable fields (named exactly
// as in the API), their defaults, and how a write looks as curl and as Terraform.

import { fleet, visible } from './fleet.js';

export const TF_MODULES = '../vrouter/deploy/terraform/modules'; // relative to your configuration

const CIDR_HINT = 'IPv4 or IPv6 CIDR, no host bits: 192.168.100.0/24, fd00:100::/64';

// Fleet mode: the router an object belongs to; the one serving this page by default.
const routerField = (one) => ({
  name: 'router', type: 'router', fleetOnly: true,
  get def() { return fleet.self; },
  hint: `the router this ${one} belongs to: any router's API writes every router's objects`,
});
const routerFilter = { name: 'router', ref: 'router', all: 'all routers', fleetOnly: true };

export const KINDS = {
  route_table: {
    path: '/v1/route-tables', title: 'Route tables', one: 'route table', module: 'route_table',
    fields: [
      routerField('route table'),
      { name: 'name', required: true, hint: 'a label, e.g. isolated', placeholder: 'isolated' },
      { name: 'table', type: 'int', min: 1, max: 4294967295, hint: 'kernel table number (ip route show table N); empty: the server picks one in 10000–19999' },
      { name: 'description', def: '', hint: 'free text' },
    ],
    label: (o) => o.name,
    filters: [routerFilter],
  },
  route: {
    path: '/v1/routes', title: 'Routes', one: 'route', module: 'route',
    fields: [
      routerField('route'),
      { name: 'destination', required: true, hint: `where to: ${CIDR_HINT}, or default`, placeholder: '192.168.100.0/24' },
      { name: 'type', type: 'select', options: ['unicast', 'blackhole', 'unreachable', 'prohibit'], def: 'unicast', hint: 'unicast forwards; the others drop (silently, with ICMP unreachable, with ICMP prohibited)' },
      { name: 'via', hint: 'next-hop address (ip route … via), on a connected network', placeholder: '192.168.150.3', when: (v) => v.type === 'unicast' },
      { name: 'dev', type: 'iface', hint: 'outgoing interface (ip route … dev); optional with via', when: (v) => v.type === 'unicast' },
      { name: 'metric', type: 'int', min: 0, max: 4294967295, def: 0, hint: 'lower wins; same table + destination + metric is one route' },
      { name: 'route_table_id', type: 'ref', ref: 'route_table', def: 'rtb-main', hint: 'the table the route goes into' },
      { name: 'description', def: '', hint: 'free text' },
    ],
    label: (o) => o.destination,
    filters: [routerFilter, { name: 'route_table_id', ref: 'route_table', all: 'all route tables' }],
  },
  subnet: {
    path: '/v1/subnets', title: 'Subnets', one: 'subnet', module: 'subnet',
    fields: [
      routerField('subnet'),
      { name: 'name', required: true, hint: 'a label, e.g. net01', placeholder: 'net01' },
      { name: 'cidr', required: true, hint: `the network: ${CIDR_HINT}`, placeholder: '192.168.150.0/24' },
      { name: 'interface', type: 'iface', required: true, hint: 'the link the router address goes on' },
      { name: 'router_ip', required: true, hint: 'this router\'s address inside cidr (ip addr add router_ip/prefix dev interface)', placeholder: '192.168.150.3' },
      { name: 'route_table_id', type: 'ref', ref: 'route_table', def: 'rtb-main', hint: 'a table other than main: traffic from cidr uses it (ip rule from cidr lookup table)' },
      { name: 'description', def: '', hint: 'free text' },
    ],
    label: (o) => o.name,
    filters: [
      routerFilter,
      { name: 'route_table_id', ref: 'route_table', all: 'all route tables' },
      { name: 'interface', ref: 'iface', all: 'all interfaces' },
    ],
  },
  security_group: {
    path: '/v1/security-groups', title: 'Security groups', one: 'security group', module: 'security_group',
    fields: [
      { name: 'name', required: true, hint: 'a label, e.g. web', placeholder: 'web' },
      { name: 'targets', type: 'list', required: true, hint: 'what it guards, one per line: host addresses or CIDRs behind this router, or local for this host itself', placeholder: 'local' },
      { name: 'description', def: '', hint: 'free text' },
    ],
    label: (o) => o.name,
    filters: [],
  },
  security_group_rule: {
    path: '/v1/security-group-rules', title: 'Rules', one: 'rule', module: 'security_group_rule',
    fields: [
      { name: 'security_group_id', type: 'ref', ref: 'security_group', required: true, hint: 'the group this rule belongs to' },
      { name: 'direction', type: 'select', options: ['ingress', 'egress'], required: true, hint: 'ingress: what may come in; egress: what a covered host may open' },
      { name: 'protocol', type: 'select', options: ['tcp', 'udp', 'icmp', 'icmpv6', 'all'], required: true, hint: 'what it matches' },
      { name: 'port_from', type: 'int', min: 1, max: 65535, hint: 'first port (tcp/udp); empty: all ports', when: (v) => v.protocol === 'tcp' || v.protocol === 'udp' },
      { name: 'port_to', type: 'int', min: 1, max: 65535, hint: 'last port; empty: the same as port_from', when: (v) => v.protocol === 'tcp' || v.protocol === 'udp' },
      { name: 'cidr', hint: `the peer: ${CIDR_HINT} (0.0.0.0/0 = anyone); or choose a remote group below`, placeholder: '192.168.150.0/24' },
      { name: 'remote_security_group_id', type: 'ref', ref: 'security_group', optional: 'none (use cidr)', hint: 'the peer: hosts that are targets of that group, instead of cidr' },
      { name: 'description', def: '', hint: 'free text' },
    ],
    label: (o) => `${o.direction} ${o.protocol}${o.port_from ? ` ${o.port_from}${o.port_to && o.port_to !== o.port_from ? `-${o.port_to}` : ''}` : ''}`,
    filters: [
      { name: 'security_group_id', ref: 'security_group', all: 'all groups' },
      { name: 'remote_security_group_id', ref: 'security_group', all: 'any remote group' },
    ],
  },
};

// What a page shows of a kind: its fleet-only fields and filters in fleet mode only.
for (const k of Object.values(KINDS)) {
  const { fields, filters } = k;
  Object.defineProperty(k, 'fields', { get: () => visible(fields) });
  Object.defineProperty(k, 'filters', { get: () => visible(filters) });
}

// Form values (strings, as typed) -> the JSON body the API takes. Optional fields
// that are empty or hold the server's default are left out: the same request, and
// the shortest curl command for it.
export function toBody(kind, values) {
  const body = {};
  for (const f of KINDS[kind].fields) {
    if (f.when && !f.when(values)) continue;
    let v = values[f.name];
    if (v === undefined || v === null) continue;
    if (f.type === 'list') {
      v = String(v).split(/[\s,]+/).filter(Boolean);
      if (!v.length && !f.required) continue;
      body[f.name] = v;
      continue;
    }
    v = String(v).trim();
    if (v === '') {
      if (f.required) body[f.name] = '';
      continue;
    }
    if (!f.required && f.def !== undefined && v === String(f.def)) continue;
    body[f.name] = f.type === 'int' && /^-?\d+$/.test(v) ? Number(v) : v;
  }
  return body;
}

// An object as the API returned it -> form values.
export function toValues(kind, obj) {
  const v = {};
  for (const f of KINDS[kind].fields) {
    const x = obj ? obj[f.name] : undefined;
    if (x === undefined || x === null) v[f.name] = f.def !== undefined ? String(f.def) : '';
    else v[f.name] = Array.isArray(x) ? x.join('\n') : String(x);
  }
  return v;
}

// ---------------------------------------------------------------- curl

function shq(s) {
  return `'${String(s).replace(/'/g, "'\\''")}'`;
}

const AUTH = '-H "Authorization: Bearer $TOKEN"';

// The curl command of a write, as the UI sends it. $TOKEN holds the bearer token.
export function curlFor(method, path, body, ifMatch) {
  const parts = [`curl -sS ${AUTH}${method !== 'POST' || body === undefined ? ` -X ${method}` : ''}`];
  if (ifMatch) parts.push(`-H ${shq(`If-Match: ${ifMatch}`)}`);
  if (body !== undefined) parts.push(`--json ${shq(JSON.stringify(body))}`);
  parts.push(shq(`${location.origin}${path}`));
  return parts.join(' \\\n  ');
}

// ---------------------------------------------------------------- Terraform

function hclString(s) {
  return `"${String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$\{/g, '$${').replace(/%\{/g, '%%{').replace(/\n/g, '\\n')}"`;
}

function hclValue(v) {
  if (Array.isArray(v)) return `[${v.map(hclValue).join(', ')}]`;
  if (v && typeof v === 'object') {
    return `{ ${Object.entries(v).map(([k, x]) => `${k} = ${hclValue(x)}`).join(', ')} }`;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return hclString(v);
}

function hclAssign(obj, indent) {
  const keys = Object.keys(obj);
  const w = Math.max(0, ...keys.map((k) => k.length));
  return keys.map((k) => `${indent}${k.padEnd(w)} = ${hclValue(obj[k])}`).join('\n');
}

// A Terraform name from the object: "route_192_168_100_0_24".
export function tfName(kind, body) {
  const k = KINDS[kind];
  const label = (k ? k.label(body) : kind) || kind;
  let n = `${kind === 'security_group_rule' ? 'rule' : kind}_${label}`.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  if (!/^[a-z_]/.test(n)) n = `_${n}`;
  return n.slice(0, 60);
}

// Every writable field spelled out, defaults included: plans stay empty, and a field
// changed elsewhere shows up as drift.
export function tfData(kind, body) {
  const data = {};
  for (const f of KINDS[kind].fields) {
    if (body[f.name] !== undefined) data[f.name] = body[f.name];
    else if (f.def !== undefined && (!f.when || f.when(body))) data[f.name] = f.def;
  }
  return data;
}

// The raw restapi_object block (provider Mastercard/restapi).
export function tfResource(kind, body, id) {
  const name = tfName(kind, body);
  const lines = [
    `resource "restapi_object" "${name}" {`,
    hclAssign({ path: KINDS[kind].path, id_attribute: 'id' }, '  '),
    '  data = jsonencode({',
    hclAssign(tfData(kind, body), '    '),
    '  })',
    '  ignore_changes_to = ["id", "status", "created_at", "updated_at"]',
    '}',
  ];
  if (id) lines.push('', `# adopt the existing object: terraform import restapi_object.${name} ${KINDS[kind].path}/${id}`);
  return lines.join('\n');
}

// The same object through vrouter's module (deploy/terraform/modules/<kind>).
export function tfModule(kind, body) {
  return [
    `module "${tfName(kind, body)}" {`,
    hclAssign({ source: `${TF_MODULES}/${KINDS[kind].module}`, ...body }, '  '),
    '}',
  ].join('\n');
}

// router: fleet mode, whose settings (every request carries ?router=); null otherwise.
export function tfSettingsResource(body, router) {
  return [
    'resource "restapi_object" "settings" {',
    hclAssign({
      path: '/v1/settings', object_id: 'settings', create_method: 'PUT', create_path: '/v1/settings',
      read_path: '/v1/settings', update_path: '/v1/settings', update_method: 'PUT',
      ...(router ? { query_string: `router=${router}` } : {}),
    }, '  '),
    '  data = jsonencode({',
    hclAssign(body, '    '),
    '  })',
    '  ignore_changes_to = ["managed", "status", "updated_at"]',
    '}',
  ].join('\n');
}

export function tfSettingsModule(body) {
  return ['module "settings" {', hclAssign({ source: `${TF_MODULES}/settings`, ...body }, '  '), '}'].join('\n');
}
