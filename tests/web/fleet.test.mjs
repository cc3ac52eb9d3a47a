// The web UI of a fleet router (vrouterd --etcd) in a real browser: Debian's chromium,
// driven by playwright-core, inside r1's network namespace. Run by test_web_fleet.sh,
// which starts etcd and the routers r1 and r2 and passes them in the environment.
// Prints "ok"/"FAIL" per check and writes {passed, failed} to VR_WEB_RESULT.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { launchIn } from './browser.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ORIGIN = 'http://127.0.0.1:8080';
const ART = process.env.VR_WEB_ARTIFACTS;
const R1 = { name: 'r1', ns: process.env.VR_WEB_R1_NS, token: process.env.VR_WEB_R1_TOKEN };
const R2 = { name: 'r2', ns: process.env.VR_WEB_R2_NS, token: process.env.VR_WEB_R2_TOKEN };
if (!R1.ns || !R1.token || !R2.ns) throw new Error('VR_WEB_R1_NS, VR_WEB_R1_TOKEN, VR_WEB_R2_NS not set: run test_web_fleet.sh');
const AXE = fs.readFileSync(path.join(HERE, 'node_modules/axe-core/axe.min.js'), 'utf8');

let passed = 0;
let failed = 0;
let step = 'setup';
const log = (s) => process.stdout.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
function pass(msg) { passed += 1; log(`ok   - ${msg}`); }
function fail(msg, detail) {
  failed += 1;
  log(`FAIL - [web_fleet] step '${step}': ${msg}`);
  if (detail) log(String(detail).split('\n').slice(0, 30).map((l) => `       | ${l}`).join('\n'));
}
async function check(msg, fn) {
  try { await fn(); pass(msg); } catch (e) { fail(msg, e && e.stack ? e.stack : e); }
}
function expect(cond, what) { if (!cond) throw new Error(what); }
function section(name) { step = name; log(`--- [web_fleet] ${name}`); }

function run(ns, argv) {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, ...argv], { timeout: 20000 }, (err, stdout) => resolve({ code: err ? 1 : 0, stdout }));
  });
}
async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(200);
  }
}
const kernelRoute = async (r, dst) => (await run(r.ns, ['ip', 'route', 'show', dst, 'proto', '245'])).stdout.trim();

async function axeCheck(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE);
  const res = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] }))
    .violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help })));
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(!bad.length, `axe: ${bad.map((v) => `${v.id} (${v.impact}): ${v.help}`).join('; ')}`);
}

async function main() {
  section('sign in on r1');
  const { ctx, dir } = await launchIn(R1.ns);
  const errors = [];
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(10000);
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
    await page.goto(`${ORIGIN}/`);
    await page.fill('#token', R1.token);
    await page.click('form.signin button[type=submit]');
    await page.locator('nav#nav').waitFor({ state: 'visible' });

    await check('the pulse names the router the page talks to', async () => {
      await page.locator('#pulse a[href="#/routers"]').waitFor();
      expect((await page.locator('#pulse a[href="#/routers"]').textContent()) === 'router r1', 'pulse');
    });

    section('Routers page');
    await check('the nav has Routers in fleet mode, and the page lists r1 and r2 alive', async () => {
      await page.locator('nav a[href="#/routers"]').click();
      await page.locator('[data-list="routers"] tr[data-name="r2"]').waitFor();
      for (const n of ['r1', 'r2']) {
        const t = await page.locator(`[data-list="routers"] tr[data-name="${n}"]`).textContent();
        expect(t.includes('alive') && !t.includes('not alive'), `${n}: ${t}`);
      }
      expect((await page.locator('[data-list="routers"] tr[data-name="r1"]').textContent()).includes('this router'), 'self');
    });
    await check('Routers: no serious or critical axe violation', () => axeCheck(page));
    if (ART) await page.screenshot({ path: path.join(ART, 'fleet-routers.png'), fullPage: true });

    section('a route for r2, made on r1\'s page');
    await page.goto(`${ORIGIN}/#/routes`);
    await page.locator('main h1').waitFor();
    await check('the routes list has a router column and filter', async () => {
      await page.locator('[data-list="route"] th', { hasText: 'router' }).first().waitFor();
      await page.locator('[data-list="route"] select[data-filter="router"]').waitFor();
    });
    await check('New route offers the fleet\'s routers; a route for r2 is created and reaches r2\'s kernel, not r1\'s', async () => {
      await page.locator('[data-new="route"]').click();
      const dlg = page.locator('dialog[open]');
      const sel = dlg.locator('select[name="router"]');
      await sel.waitFor();
      const opts = await sel.locator('option').evaluateAll((os2) => os2.map((o) => o.value));
      expect(opts.includes('r1') && opts.includes('r2'), `options ${opts}`);
      expect((await sel.inputValue()) === 'r1', 'defaults to this router');
      await sel.selectOption('r2');
      await dlg.locator('input[name="destination"]').fill('10.30.0.0/24');
      await dlg.locator('input[name="via"]').fill('10.20.0.2');
      expect((await dlg.locator('[data-export="curl"]').textContent()).includes('"router":"r2"'), 'the curl shows router r2');
      await dlg.locator('button[type=submit]').click();
      await dlg.waitFor({ state: 'detached' });
      await until('r2\'s kernel has 10.30.0.0/24', async () => (await kernelRoute(R2, '10.30.0.0/24')).includes('via 10.20.0.2'));
      expect((await kernelRoute(R1, '10.30.0.0/24')) === '', 'r1 applied r2\'s route');
    });
    await check('the list shows the route as r2\'s, remote from r1', async () => {
      const row = page.locator('[data-list="route"] tbody tr', { hasText: '10.30.0.0/24' });
      await row.waitFor();
      const t = await row.textContent();
      expect(t.includes('r2') && t.includes('remote'), t);
    });
    await check('filtering by router r1 hides it', async () => {
      await page.locator('[data-list="route"] select[data-filter="router"]').selectOption('r1');
      await until('the list drops it', async () => (await page.locator('[data-list="route"] tbody tr', { hasText: '10.30.0.0/24' }).count()) === 0, 5000);
    });
    await check('Routes: no serious or critical axe violation', () => axeCheck(page));
    if (ART) await page.screenshot({ path: path.join(ART, 'fleet-routes.png'), fullPage: true });

    section('settings of r2 from r1\'s page');
    await check('the Settings page picks r2 and saves its forwarding; r2\'s kernel follows', async () => {
      await page.goto(`${ORIGIN}/#/settings`);
      await page.locator('select#set-router').waitFor();
      await page.locator('select#set-router').selectOption('r2');
      await page.locator('#fwd-v4').check();
      await page.locator('form button[type=submit]').click();
      await until('r2 forwards IPv4', async () => (await run(R2.ns, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim() === '1');
      expect((await run(R1.ns, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim() === '0', 'r1 changed too');
    });

    section('etcd unreachable');
    await page.goto(`${ORIGIN}/#/`);
    await page.locator('main h1').waitFor();
    await run(R1.ns, ['ip', 'link', 'set', 'eth0', 'down']);
    try {
      await check('cut off from etcd, the page says so (the answers carry Vrouter-Stale-Since)', async () => {
        await page.locator('#pulse .badge', { hasText: 'etcd unreachable' }).waitFor({ timeout: 20000 });
      });
    } finally {
      await run(R1.ns, ['ip', 'link', 'set', 'eth0', 'up']);
    }
    await check('back in touch, the badge goes', async () => {
      await page.locator('#pulse .badge', { hasText: 'etcd unreachable' }).waitFor({ state: 'detached', timeout: 20000 });
    });

    section('console');
    await check('no console errors', () => { expect(!errors.length, errors.join('\n')); });
  } finally {
    await ctx.close().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (e) {
  fail('the browser test stopped', e && e.stack ? e.stack : e);
} finally {
  if (process.env.VR_WEB_RESULT) fs.writeFileSync(process.env.VR_WEB_RESULT, JSON.stringify({ passed, failed }));
  log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}
