// Hangs up a B2BUA call from Parley's web console, for
// e2e/console_test.go's TestConsoleB2BUAHangup.
//
//   node hangup.mjs CONSOLE_URL
//
// It prints one JSON line per step on stdout:
//   {"step":"loaded"}            the console has loaded, its stream is live
//   {"step":"call", "text":…}    a call is listed under "B2BUA calls"
//   {"step":"hungup", …}         Hang up was clicked (the confirmation
//                                accepted) and the row went away; page errors
// It exits non-zero on any failure and after 60 s in any case.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url] = process.argv.slice(2);
if (!url) {
  console.error('usage: node hangup.mjs CONSOLE_URL');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const step = (name, data = {}) => console.log(JSON.stringify({ step: name, ...data }));
const guard = setTimeout(() => {
  console.error('hangup.mjs: gave up after 60 s');
  process.exit(3);
}, 60_000);

const profile = mkdtempSync(join(tmpdir(), 'parley-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20_000);
  const errors = [];
  page.on('pageerror', err => errors.push(String(err)));
  page.on('dialog', d => d.accept()); // "Hang up alice → bob?"
  await page.goto(url);
  await page.waitForSelector('body[data-loaded="true"]');
  await page.waitForSelector('#live:not(.off)');
  step('loaded');

  const row = page.locator('#b2bua tbody tr', { hasText: 'answered' }).first();
  await row.waitFor();
  const text = await row.innerText();
  step('call', { text });
  await row.locator('button.hangup').click();
  await page.locator('#b2bua tbody tr').first().waitFor({ state: 'detached' });
  step('hungup', { errors });
} catch (err) {
  console.error('hangup.mjs:', err.message);
  process.exitCode = 1;
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(guard);
}
