// Drives Parley's web console in headless Chromium for e2e/console_test.go.
//
//   node console.mjs CONSOLE_URL SCREENSHOT_PATH
//
// It prints one JSON line per step on stdout, which the Go test reads to
// pace the SIP traffic it makes:
//   {"step":"loaded"}        the console has loaded its data
//   {"step":"registration"}  the row of $CONSOLE_AOR is shown (pushed live)
//   {"step":"result", ...}   an ended call was clicked; its ladder, the text
//                            of its INVITE and page errors; screenshot saved
// It exits non-zero on any failure and after 90 s in any case.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node console.mjs CONSOLE_URL SCREENSHOT_PATH');
  process.exit(2);
}
const aor = process.env.CONSOLE_AOR || 'sip:bob@example.com';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const step = (name, data = {}) => console.log(JSON.stringify({ step: name, ...data }));

const guard = setTimeout(() => {
  console.error('console.mjs: gave up after 90 s');
  process.exit(3);
}, 90_000);

// A fresh profile every run: nothing cached, nothing remembered.
const profile = mkdtempSync(join(tmpdir(), 'parley-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true, // playwright adds --headless
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1000 },
    timeout: 30_000,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20_000);
  const errors = [];
  page.on('pageerror', err => errors.push(String(err)));
  page.on('console', msg => { if (msg.type() === 'error') errors.push(msg.text()); });

  await page.goto(url);
  await page.waitForSelector('body[data-loaded="true"]');
  await page.waitForSelector('#live:not(.off)');
  step('loaded');

  const reg = page.locator(`#registrations tbody tr[data-aor="${aor}"]`).first();
  await reg.waitFor();
  step('registration', { text: await reg.innerText() });

  // The call is made now; its row must arrive and end without a reload.
  const row = page.locator('#calls tbody tr.ended').first();
  await row.waitFor();
  const callId = await row.getAttribute('data-call-id');
  const callText = await row.innerText();
  await row.click();
  await page.waitForSelector('#ladder-svg g.arrow[data-label="200 OK (BYE)"]');
  const labels = await page.$$eval('#ladder-svg g.arrow', gs => gs.map(g => g.dataset.label));
  const nodes = await page.$$eval('#ladder-svg text.node', ts => ts.map(t => t.textContent));
  await page.locator('#ladder-svg g.arrow[data-label="INVITE"]').first().click();
  const text = await page.locator('#ladder pre.message').innerText();
  const registration = await reg.innerText();
  // The ended call's record arrives in the records table without a reload.
  const cdr = page.locator(`#cdrs tbody tr[data-call-id="${callId}"]`);
  await cdr.waitFor();
  const cdrText = await cdr.innerText();
  await page.screenshot({ path: screenshot, fullPage: true });
  step('result', { callId, callText, labels, nodes, text, registration, cdrText, errors });
} catch (err) {
  console.error('console.mjs:', err.message);
  process.exitCode = 1;
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(guard);
}
