// Debian's chromium, as the browser tests start it: inside the network namespace ns
// (chromium-netns), so that 127.0.0.1:8080 is that namespace's vrouterd, with a profile
// of its own in a new temporary directory (dir: the caller removes it at the end).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export async function launchIn(ns) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vrweb-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: path.join(HERE, 'chromium-netns'),
    env: { ...process.env, VR_WEB_NETNS: ns },
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-first-run', '--disable-gpu', '--disable-quic'],
    viewport: { width: 1280, height: 900 },
    timeout: 60000,
  });
  return { ctx, dir };
}
