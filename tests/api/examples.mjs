// Every example of schema/openapi.yaml, checked: each one is valid against the schema
// it illustrates, and each request example is sent to a live daemon, which must answer
// with the documented status, media type and a body valid against the documented
// schema. The rules the document follows for this (its description says so too):
//
// - A request body example named K is paired with the response example named K (in
//   the operation's responses or in the components they refer to); the status holding
//   it is the status the daemon must answer. Every request example has exactly one
//   such partner. Its `x-query` (an object) is sent as the query string. A response
//   without a body (304) holds its examples in its headers' `examples`.
// - An operation without a request body must answer its one 2xx status: sent with
//   every query parameter set to its first example that has no partner (a GET also
//   without any; a DELETE only with them). Every such GET is also sent as HEAD, which
//   must answer the same status and Content-Type, an ETag if and only if the GET had
//   one (and the same Content-Length when it is the same ETag), and no body.
// - On an operation without a request body, a parameter example named K that has a
//   partner (as above) is sent alone: that parameter set to that value, no other query
//   parameter or optional header. With `x-value-from: ETag` the value sent is the ETag
//   the same request just answered without it (the example's value illustrates one).
// - Path parameters take their one example that has no partner.
// - Order: every POST (document order), then every PUT, every GET, every DELETE
//   (reverse document order: what refers to an object goes first), and /v1/config
//   last (it replaces the whole state). Objects are created with client-chosen ids, so
//   later examples can name them.
// - A partner example that names a field (errors[0].field) must name the same field as
//   the live answer.
//
//   node tests/api/examples.mjs --base http://ADDR:PORT --token-file FILE [--doc FILE]
//   node tests/api/examples.mjs --static [--doc FILE]     (no daemon: the schema checks only)
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const args = { doc: join(here, '../../schema/openapi.yaml') };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--static') args.static = true;
  else if (['--base', '--token-file', '--doc'].includes(a)) args[a.slice(2)] = process.argv[++i];
  else {
    console.error(`examples.mjs: unknown argument ${a}`);
    process.exit(2);
  }
}
if (!args.static && (!args.base || !args['token-file'])) {
  console.error('usage: examples.mjs --base URL --token-file FILE [--doc FILE] | --static [--doc FILE]');
  process.exit(2);
}

const doc = parse(readFileSync(args.doc, 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
let failed = 0;
let passed = 0;
const ok = (msg) => {
  passed++;
  console.log(`ok   - ${msg}`);
};
const fail = (msg, ...detail) => {
  failed++;
  console.log(`FAIL - ${msg}`);
  for (const d of detail) console.log(String(d).slice(0, 3000).replace(/^/gm, '       | '));
};

// ---------------------------------------------------------------- references, schemas

function deref(o) {
  for (let n = 0; o && o.$ref; n++) {
    if (n > 20 || !o.$ref.startsWith('#/')) throw new Error(`unresolvable $ref ${o.$ref}`);
    o = o.$ref
      .slice(2)
      .split('/')
      .reduce((v, k) => v?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
    if (o === undefined) throw new Error('dangling $ref');
  }
  return o;
}

// The components' schemas as one JSON Schema 2020-12 document; OpenAPI 3.1 schemas are
// JSON Schema, with a few keywords of OpenAPI's own.
const BASE = 'https://vrouter.invalid/openapi';
const rewrite = (v) =>
  Array.isArray(v)
    ? v.map(rewrite)
    : v && typeof v === 'object'
      ? Object.fromEntries(
          Object.entries(v).map(([k, x]) => [
            k,
            k === '$ref' && typeof x === 'string' && x.startsWith('#/components/schemas/')
              ? `${BASE}#/$defs/${x.slice('#/components/schemas/'.length)}`
              : rewrite(x),
          ]),
        )
      : v;
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
addFormats(ajv);
ajv.addVocabulary(['discriminator', 'xml', 'externalDocs', 'example']);
ajv.addSchema({ $id: BASE, $defs: rewrite(doc.components?.schemas ?? {}) });
const compiled = new Map();
function validator(schema) {
  if (!compiled.has(schema)) compiled.set(schema, ajv.compile(rewrite(schema)));
  return compiled.get(schema);
}
function validate(schema, value) {
  const v = validator(schema);
  return v(value) ? null : ajv.errorsText(v.errors, { separator: '; ' });
}

// ---------------------------------------------------------------- the examples of a place

// [{key, value, raw}] of a media type, parameter or header object ("" for `example`).
function examplesOf(o) {
  const out = [];
  if (o.example !== undefined) out.push({ key: '', value: o.example, raw: { value: o.example } });
  for (const [k, ex] of Object.entries(o.examples ?? {})) {
    const e = deref(ex);
    out.push({ key: k, value: e.value, raw: e });
  }
  return out;
}

// The operations, in document order: {path, method, op, params}.
const ops = [];
for (const [path, item] of Object.entries(doc.paths))
  for (const method of METHODS)
    if (item[method])
      ops.push({
        path,
        method,
        op: item[method],
        params: [...(item.parameters ?? []), ...(item[method].parameters ?? [])].map(deref),
      });
const name = (o) => `${o.method.toUpperCase()} ${o.path}`;

// The status and media type whose response holds an example named key:
// [{status, type, media, example, response}]; a response without a body (304) holds
// its examples in its headers ({status, bodiless: true, example, response}).
function partners(o, key) {
  const found = [];
  for (const [status, r] of Object.entries(o.op.responses)) {
    const response = deref(r);
    for (const [type, media] of Object.entries(response.content ?? {}))
      for (const ex of examplesOf(media))
        if (ex.key === key) found.push({ status, type, media, example: ex.value, response });
    if (!response.content)
      for (const h of Object.values(response.headers ?? {}))
        for (const ex of examplesOf(deref(h)))
          if (ex.key === key) found.push({ status, bodiless: true, example: ex.value, response });
  }
  return found;
}

// A parameter example's partners: only a named one has any, and only where the
// operation has no request body (there it is sent alone; elsewhere it illustrates).
const paramPartners = (o, ex) => (ex.key && !o.op.requestBody ? partners(o, ex.key) : []);

// Parameter object -> the keys of its examples that have a partner in some operation,
// and of those meant to be refused (a partner with a 4xx or 5xx status), which need
// not fit the parameter's schema.
const partneredParamExamples = new Map();
const refusedParamExamples = new Map();
const mark = (m, p, key) => m.set(p, (m.get(p) ?? new Set()).add(key));
for (const o of ops)
  for (const p of o.params)
    for (const ex of examplesOf(p)) {
      const ps = paramPartners(o, ex);
      if (ps.length) mark(partneredParamExamples, p, ex.key);
      if (ps.some((pt) => Number(pt.status) >= 400)) mark(refusedParamExamples, p, ex.key);
    }
const paramExamplesToFit = (p) => examplesOf(p).filter((ex) => !refusedParamExamples.get(p)?.has(ex.key));
// The examples that illustrate a value to send along (no partner anywhere).
const plainExamples = (p) => examplesOf(p).filter((ex) => !partneredParamExamples.get(p)?.has(ex.key));

// ---------------------------------------------------------------- static: every example valid

function checkStatic() {
  const seen = new Set(); // shared components are checked once
  const check = (where, schema, exs) => {
    for (const ex of exs) {
      if (!schema) {
        fail(`${where} example ${ex.key || '(example)'}: no schema to check it against`);
        continue;
      }
      const err = validate(schema, ex.value);
      if (err) fail(`${where} example ${ex.key || '(example)'} does not fit its schema`, err);
      else ok(`${where} example ${ex.key || '(example)'} fits its schema`);
    }
  };
  const onceFor = (ref, fn) => {
    if (ref && seen.has(ref)) return;
    if (ref) seen.add(ref);
    fn();
  };
  for (const o of ops) {
    for (const p of o.params)
      onceFor(null, () => check(`${name(o)} parameter ${p.name}`, p.schema, paramExamplesToFit(p)));
    const body = o.op.requestBody ? deref(o.op.requestBody).content ?? {} : {};
    for (const [type, media] of Object.entries(body)) {
      // Request examples meant to be refused need not fit the schema (that is the point).
      const exs = examplesOf(media).filter((ex) => partners(o, ex.key).some((p) => p.status.startsWith('2')));
      check(`${name(o)} request ${type}`, media.schema, exs);
    }
    for (const [status, r] of Object.entries(o.op.responses)) {
      const resp = deref(r);
      onceFor(r.$ref, () => {
        for (const [type, media] of Object.entries(resp.content ?? {}))
          check(`${r.$ref ?? `${name(o)} ${status}`} ${type}`, media.schema, examplesOf(media));
        for (const [h, hd] of Object.entries(resp.headers ?? {}))
          onceFor(hd.$ref, () => check(`${r.$ref ?? `${name(o)} ${status}`} header ${h}`, deref(hd).schema, examplesOf(deref(hd))));
      });
    }
  }
  for (const [n, s] of Object.entries(doc.components?.schemas ?? {}))
    check(`#/components/schemas/${n}`, s, (s.examples ?? []).map((value, i) => ({ key: `[${i}]`, value })));
  for (const [n, p] of Object.entries(doc.components?.parameters ?? {}))
    onceFor(`#/components/parameters/${n}`, () =>
      check(`#/components/parameters/${n}`, p.schema, paramExamplesToFit(p)),
    );
}

// ---------------------------------------------------------------- live: every request sent

const token = args.static ? '' : readFileSync(args['token-file'], 'utf8').trim();

// The path, each parameter at its one example without a partner; path: {name, value}
// puts value in that parameter instead.
function pathOf(o, path) {
  return o.path.replace(/\{([^}]+)\}/g, (_, n) => {
    if (path?.name === n) return encodeURIComponent(path.value);
    const p = o.params.find((x) => x.in === 'path' && x.name === n);
    const exs = p ? plainExamples(p) : [];
    if (exs.length !== 1)
      throw new Error(`path parameter ${n} of ${name(o)} needs exactly one example without a partner`);
    return encodeURIComponent(exs[0].value);
  });
}

// Send o: body (undefined: none), query (an object), and extra {method, path, headers}.
async function send(o, body, query, extra = {}) {
  const url = new URL(args.base + pathOf(o, extra.path));
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, String(v));
  const headers = {};
  const secured = (o.op.security ?? doc.security ?? []).length > 0;
  if (secured) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  Object.assign(headers, extra.headers);
  const method = extra.method ?? o.method.toUpperCase();
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: String(res.status),
    type: (res.headers.get('content-type') ?? '').split(';')[0].trim(),
    text,
    url,
    method,
    headers: res.headers,
  };
}

function judge(what, o, res, want) {
  const problems = [];
  if (res.status !== want.status) problems.push(`status ${res.status}, documented ${want.status}`);
  if (want.type && res.type !== want.type) problems.push(`Content-Type ${res.type}, documented ${want.type}`);
  if (want.bodiless && res.text !== '') problems.push('a body, documented none');
  // Every header the documented response declares is in the answer, and fits its schema.
  for (const [h, hd] of Object.entries(want.response?.headers ?? {})) {
    const schema = deref(hd).schema;
    const value = res.headers.get(h);
    const err = value !== null && schema ? validate(schema, value) : null;
    if (problems.length) break;
    if (value === null) problems.push(`no ${h} header, documented one`);
    else if (err) problems.push(`${h}: ${value} does not fit the documented schema: ${err}`);
  }
  let body = res.text;
  if (want.type && /json/.test(want.type)) {
    try {
      body = JSON.parse(res.text);
    } catch {
      problems.push('the body is not JSON');
    }
  }
  if (!problems.length && want.media?.schema) {
    const err = validate(want.media.schema, body);
    if (err) problems.push(`the body does not fit the documented schema: ${err}`);
  }
  const field = want.example?.errors?.[0]?.field;
  if (!problems.length && field !== undefined && body?.errors?.[0]?.field !== field)
    problems.push(`errors[0].field ${JSON.stringify(body?.errors?.[0]?.field)}, documented ${JSON.stringify(field)}`);
  if (problems.length) fail(`${what}: ${problems.join('; ')}`, `${res.method} ${res.url}`, res.text);
  else ok(`${what}: ${res.status}${want.type ? ` ${want.type}` : ''}`);
}

// HEAD is GET without the body: the same status, Content-Type and ETag presence, the
// same Content-Length for the same ETag (the representation may change in between,
// as /v1/status does), and no body.
function judgeHead(what, get, head) {
  const problems = [];
  const h = (r, n) => r.headers.get(n);
  if (head.status !== get.status) problems.push(`status ${head.status}, GET answered ${get.status}`);
  if (head.type !== get.type) problems.push(`Content-Type ${head.type}, GET answered ${get.type}`);
  if (head.text !== '') problems.push('a body');
  if (!h(head, 'etag') !== !h(get, 'etag')) problems.push(`ETag ${h(head, 'etag')}, GET answered ${h(get, 'etag')}`);
  else if (
    h(head, 'etag') &&
    h(head, 'etag') === h(get, 'etag') &&
    h(head, 'content-length') !== h(get, 'content-length')
  )
    problems.push(`Content-Length ${h(head, 'content-length')}, GET answered ${h(get, 'content-length')}`);
  if (problems.length) fail(`${what}: ${problems.join('; ')}`, `HEAD ${head.url}`, head.text);
  else ok(`${what}: ${head.status}${head.type ? ` ${head.type}` : ''}, no body`);
}

// The parameter examples of o (no request body) that have a partner, each sent alone.
async function sendParamExamples(o) {
  for (const p of o.params)
    for (const ex of examplesOf(p)) {
      const ps = paramPartners(o, ex);
      if (!ps.length) continue;
      const what = `${name(o)} ${p.in} parameter ${p.name} example ${ex.key}`;
      if (ps.length !== 1) {
        fail(`${what}: needs exactly one response example of the same name (found ${ps.length})`);
        continue;
      }
      const at = (value) =>
        p.in === 'path'
          ? [undefined, { path: { name: p.name, value } }]
          : p.in === 'query'
            ? [{ [p.name]: value }, {}]
            : p.in === 'header'
              ? [undefined, { headers: { [p.name]: String(value) } }]
              : null;
      if (!at(ex.value)) {
        fail(`${what}: cannot send a parameter in ${p.in}`);
        continue;
      }
      if (ex.raw['x-value-from'] === undefined) {
        judge(what, o, await send(o, undefined, ...at(ex.value)), ps[0]);
        continue;
      }
      if (ex.raw['x-value-from'] !== 'ETag' || p.in !== 'header') {
        fail(`${what}: x-value-from ${ex.raw['x-value-from']} (only ETag, for a header) is not understood`);
        continue;
      }
      // The ETag the same request just answered. A representation may change in between
      // (a resync moves /v1/status): a 200 with another ETag is then right; asked again.
      for (let attempt = 1; ; attempt++) {
        const first = await send(o);
        const etag = first.headers.get('etag');
        if (!etag) {
          fail(`${what}: ${o.method.toUpperCase()} ${first.url} answered ${first.status} without an ETag`);
          break;
        }
        const res = await send(o, undefined, ...at(etag));
        const moved = res.status === '200' && res.headers.get('etag') && res.headers.get('etag') !== etag;
        if (moved && attempt < 3) continue;
        judge(`${what} (${etag})`, o, res, ps[0]);
        break;
      }
    }
}

function phase(o) {
  if (o.path === '/v1/config') return 4;
  return { post: 0, put: 1, get: 2, delete: 3 }[o.method] ?? 5;
}

async function checkLive() {
  const order = ops
    .map((o, i) => ({ o, i }))
    .sort((a, b) => phase(a.o) - phase(b.o) || (phase(a.o) === 3 ? b.i - a.i : a.i - b.i))
    .map((x) => x.o);
  for (const o of order) {
    const body = o.op.requestBody ? deref(o.op.requestBody).content?.['application/json'] : undefined;
    if (body) {
      const exs = examplesOf(body);
      if (!exs.length) fail(`${name(o)}: a request body without examples`);
      for (const ex of exs) {
        const what = `${name(o)} example ${ex.key || '(example)'}`;
        const ps = partners(o, ex.key);
        if (!ex.key || ps.length !== 1) {
          fail(`${what}: needs exactly one response example of the same name (found ${ps.length})`);
          continue;
        }
        judge(what, o, await send(o, ex.value, ex.raw['x-query']), ps[0]);
      }
      continue;
    }
    const ok2xx = Object.keys(o.op.responses).filter((s) => s.startsWith('2'));
    if (ok2xx.length !== 1) {
      fail(`${name(o)}: without a request body it needs exactly one 2xx response (has ${ok2xx.join(', ')})`);
      continue;
    }
    const resp = deref(o.op.responses[ok2xx[0]]);
    const [type, media] = Object.entries(resp.content ?? {})[0] ?? [];
    const want = { status: ok2xx[0], type, media, response: resp };
    // The query parameters' examples (the first without a partner of each), all at
    // once; a GET is also sent without them.
    const query = {};
    for (const p of o.params.filter((x) => x.in === 'query')) {
      const exs = plainExamples(p);
      if (exs.length) query[p.name] = exs[0].value;
    }
    const withQuery = Object.keys(query).length > 0;
    const variants = [];
    if (o.method === 'get' || !withQuery) variants.push([name(o), undefined]);
    if (withQuery) variants.push([`${name(o)} with its parameters' examples`, query]);
    for (const [what, q] of variants) {
      const res = await send(o, undefined, q);
      judge(what, o, res, want);
      if (o.method === 'get') judgeHead(`HEAD ${what.slice(4)}`, res, await send(o, undefined, q, { method: 'HEAD' }));
    }
    await sendParamExamples(o);
  }
}

try {
  checkStatic();
  if (!args.static) await checkLive();
} catch (e) {
  fail(`examples.mjs: ${e.stack ?? e}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
