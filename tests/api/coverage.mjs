// The server's endpoint table against schema/openapi.yaml, both ways: every method and
// path pattern the daemon serves must be an operation of the document, and every
// operation of the document must be served. The table comes from the api_endpoints
// program (tests/api/endpoints.c), linked with the server itself.
//
// HEAD: the daemon answers HEAD wherever it answers GET (the document says so in its
// conventions instead of repeating every GET as a head operation), so a HEAD row of the
// table is covered by the document's get of the same path.
//
//   node tests/api/coverage.mjs BUILD/tests/api_endpoints [schema/openapi.yaml]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const [program, docPath = join(here, '../../schema/openapi.yaml')] = process.argv.slice(2);
if (!program) {
  console.error('usage: coverage.mjs API_ENDPOINTS_PROGRAM [openapi.yaml]');
  process.exit(2);
}
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const doc = parse(readFileSync(docPath, 'utf8'));

const served = new Set(
  execFileSync(program, { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [m, p] = l.split(' ');
      return `${m.toUpperCase()} ${p}`;
    }),
);
const documented = new Set();
for (const [path, item] of Object.entries(doc.paths ?? {}))
  for (const m of METHODS) if (item[m]) documented.add(`${m.toUpperCase()} ${path}`);

const covered = (op) => documented.has(op) || (op.startsWith('HEAD ') && documented.has(`GET ${op.slice(5)}`));
const undocumented = [...served].filter((op) => !covered(op));
const unserved = [...documented].filter((op) => !served.has(op));
for (const op of undocumented) console.log(`served but not in ${docPath}: ${op}`);
for (const op of unserved) console.log(`in ${docPath} but not served: ${op}`);
console.log(
  `${served.size} endpoints served, ${documented.size} operations documented: ` +
    `${undocumented.length} undocumented, ${unserved.length} not served`,
);
process.exit(undocumented.length || unserved.length || served.size === 0 ? 1 : 0);
