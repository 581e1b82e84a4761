// Reads the Cluster view of Parley's web console, for
// e2e/console_cluster_test.go's TestConsoleCluster.
//
//   node cluster.mjs CONSOLE_URL DEAD_NODE LIVE_NODE
//
// with a B2BUA call of LIVE_NODE's in progress.
//
// It prints one JSON line per step on stdout:
//   {"step":"loaded"}                 the console has loaded
//   {"step":"b2bua", "nodes":[…]}     the B2BUA calls show the Node
//                                     column, a row of LIVE_NODE's, and
//                                     the Node cell of every row
//   {"step":"nodes", "rows":[…], …}   the row of LIVE_NODE shows alive and
//                                     the row of DEAD_NODE dead; every
//                                     node row's text, and page errors
//   {"step":"unavailable", "text":…, "rows":…}
//                                     after the test stops Redis: the
//                                     view stays, with its notice, and
//                                     the rows it showed
// It exits non-zero on any failure and after 60 s in any case.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, dead, live] = process.argv.slice(2);
if (!url || !dead || !live) {
  console.error('usage: node cluster.mjs CONSOLE_URL DEAD_NODE LIVE_NODE');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const step = (name, data = {}) => console.log(JSON.stringify({ step: name, ...data }));
const guard = setTimeout(() => {
  console.error('cluster.mjs: gave up after 60 s');
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
  page.setDefaultTimeout(30_000);
  const errors = [];
  page.on('pageerror', err => errors.push(String(err)));
  page.on('console', msg => { if (msg.type() === 'error') errors.push(msg.text()); });
  await page.goto(url);
  await page.waitForSelector('body[data-loaded="true"]');
  step('loaded');
  await page.locator(`#b2bua tr[data-node="${live}"] td.node`).waitFor();
  const nodeColumn = await page.locator('#b2bua th.node').isVisible();
  step('b2bua', { column: nodeColumn, nodes: await page.locator('#b2bua tbody td.node').allInnerTexts() });
  // The view refreshes itself every 3 s: the dead node turns dead
  // without a reload.
  await page.locator(`#cluster tr[data-node="${live}"] .state.alive`).waitFor();
  await page.locator(`#cluster tr[data-node="${dead}"] .state.dead`).waitFor();
  const rows = await page.locator('#cluster .nodes tbody tr').allInnerTexts();
  step('nodes', { rows, errors });
  // The test stops Redis now: /api/cluster answers 503, and the view
  // says so and keeps refreshing.
  const note = page.locator('#cluster .unavailable');
  await note.waitFor();
  step('unavailable', { text: await note.innerText(), rows: await page.locator('#cluster .nodes tbody tr').count(),
    shown: await page.locator('#cluster').isVisible() });
} catch (err) {
  console.error('cluster.mjs:', err.message);
  process.exitCode = 1;
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(guard);
}
