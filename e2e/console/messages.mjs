// Opens Parley's web console in headless Chromium for
// e2e/messages_test.go and prints, as one JSON line, the rows of its
// "Waiting messages" view and any page errors:
//
//   node messages.mjs CONSOLE_URL
//
// It waits for at least one row; it exits non-zero on failure and after
// 60 s in any case.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url] = process.argv.slice(2);
if (!url) {
  console.error('usage: node messages.mjs CONSOLE_URL');
  process.exit(2);
}
const guard = setTimeout(() => {
  console.error('messages.mjs: gave up after 60 s');
  process.exit(3);
}, 60_000);

const profile = mkdtempSync(join(tmpdir(), 'parley-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20_000);
  const errors = [];
  page.on('pageerror', err => errors.push(String(err)));
  page.on('console', msg => { if (msg.type() === 'error') errors.push(msg.text()); });
  await page.goto(url);
  await page.waitForSelector('body[data-loaded="true"]');
  await page.locator('#messages tbody tr').first().waitFor();
  const rows = await page.locator('#messages tbody tr').allInnerTexts();
  const count = await page.locator('#messages .count').innerText();
  console.log(JSON.stringify({ rows, count, errors }));
} catch (err) {
  console.error('messages.mjs:', err);
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(guard);
}
