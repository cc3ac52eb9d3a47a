// redocly lint of schema/openapi.yaml with the recommended rules (tests/api/redocly.yaml):
// passes only with 0 errors and 0 warnings; prints every problem otherwise.
//
//   node tests/api/lint.mjs [schema/openapi.yaml]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const doc = process.argv[2] ?? join(here, '../../schema/openapi.yaml');
const redocly = join(here, 'node_modules/.bin/redocly');
const run = spawnSync(redocly, ['lint', doc, '--config', join(here, 'redocly.yaml'), '--format=json'], {
  encoding: 'utf8',
  maxBuffer: 64 << 20,
});
if (run.error) {
  console.error(`lint: cannot run ${redocly}: ${run.error.message} (run npm ci in tests/api; deploy/setup.sh does)`);
  process.exit(1);
}
let out;
try {
  out = JSON.parse(run.stdout);
} catch {
  console.error(`lint: redocly did not answer JSON (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  process.exit(1);
}
for (const p of out.problems) {
  const where = p.location?.map((l) => `${l.source?.ref}${l.pointer}`).join(', ');
  console.log(`${p.severity} ${p.ruleId}: ${p.message} at ${where}`);
}
const { errors, warnings } = out.totals;
console.log(`redocly ${out.version} lint ${doc}: ${errors} errors, ${warnings} warnings`);
process.exit(errors === 0 && warnings === 0 && run.status === 0 ? 0 : 1);
