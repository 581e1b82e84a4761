// Drives web phones in headless Chromium for e2e/webphone_test.go: the
// console's web phone (JsSIP, admin/console/phone.html) as alice, and a
// SIP.js page (sipjs.html) as bob, both registered over WSS.
//
//   WEBPHONE='{"phone":URL,"wss":URL,"mode":"browsers"|"phone",...}' node webphone.mjs
//
// mode "browsers": alice calls bob, both see the call connect and RTP
// bytes flow (getStats), alice hangs up; then bob calls alice, who
// answers with the page's Answer button, and bob hangs up.
// cfg.shot, when set, is where a screenshot of alice's page in the call
// is saved.
// mode "phone": alice calls cfg.target (a baresip phone) and reports how
// the call went; an established call is hung up after cfg.holdMs.
// mode "refused": the server refuses the page's origin; alice reports
// what the page says after a failed sign-in or two.
//
// One JSON line per step on stdout, as console.mjs does; it exits
// non-zero on any failure and after 100 s in any case.
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';

const cfg = JSON.parse(process.env.WEBPHONE || '{}');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const step = (name, data = {}) => console.log(JSON.stringify({ step: name, ...data }));
const guard = setTimeout(() => { console.error('webphone.mjs: gave up after 100 s'); process.exit(3); }, 100_000);

// The SIP.js page and SIP.js itself (ES modules, loaded as published).
const types = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript' };
const server = createServer(async (req, res) => {
  const path = normalize(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '');
  const file = path.startsWith('sip.js/') ? join('node_modules', 'sip.js', 'lib', path.slice(7)) : path;
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'Content-Type': types[file.slice(file.lastIndexOf('.'))] || 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise(ok => server.listen(0, '127.0.0.1', ok));
const pagesBase = `http://127.0.0.1:${server.address().port}`;

let browser;
try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--ignore-certificate-errors', // the server's self-signed certificate
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--autoplay-policy=no-user-gesture-required'],
    timeout: 30_000,
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const errors = [];
  const open = async url => {
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('pageerror', err => errors.push(String(err)));
    await page.goto(url);
    return page;
  };

  const alice = await open(cfg.phone);
  await alice.fill('#account [name=user]', cfg.alice.user);
  await alice.fill('#account [name=password]', cfg.alice.password);
  await alice.fill('#account [name=url]', cfg.wss);
  await alice.click('#account [name=signin]');
  if (cfg.mode === 'refused') {
    // The server refuses this page's origin: the page must say what to check.
    await alice.waitForSelector('#phone-status[data-state="disconnected"], #phone-status[data-state="registered"]');
    await alice.waitForTimeout(1000); // a retry or two
    step('result', {
      state: await alice.locator('#phone-status').getAttribute('data-state'),
      text: await alice.locator('#phone-status').innerText(),
      origin: await alice.evaluate(() => location.origin),
    });
    await browser.close();
    server.close();
    clearTimeout(guard);
    process.exit(0);
  }
  await alice.waitForSelector('#phone-status[data-state="registered"]');
  step('alice-registered');

  const callState = page => page.locator('#call').getAttribute('data-state');
  const aliceMedia = async () => ({
    sent: Number(await alice.locator('#media').getAttribute('data-bytes-sent')),
    received: Number(await alice.locator('#media').getAttribute('data-bytes-received')),
  });

  if (cfg.mode === 'phone') {
    await alice.fill('#dial [name=target]', cfg.target);
    await alice.click('#dial [name=call]');
    await alice.waitForSelector('#call[data-state="established"], #call[data-state="ended"]', { timeout: 30_000 });
    const state = await callState(alice);
    const text = await alice.locator('#call').innerText();
    if (state === 'established') {
      await alice.waitForTimeout(cfg.holdMs || 1000);
      await alice.click('#hangup');
      await alice.waitForSelector('#call[data-state="ended"]');
    }
    step('result', { state, text, errors });
  } else {
    const u = new URL(pagesBase + '/sipjs.html');
    u.searchParams.set('wss', cfg.wss);
    u.searchParams.set('user', cfg.bob.user);
    u.searchParams.set('password', cfg.bob.password);
    const bob = await open(u.toString());
    await bob.waitForFunction(() => window.phone && (window.phone.state.registered || window.phone.state.error));
    const bobErr = await bob.evaluate(() => window.phone.state.error);
    if (bobErr) throw new Error('bob (SIP.js): ' + bobErr);
    step('bob-registered');
    const bobCall = () => bob.evaluate(() => window.phone.state.call);
    const bobMedia = () => bob.evaluate(() => window.phone.bytes());
    const waitBob = want => bob.waitForFunction(w => window.phone.state.call === w, want);

    // media waits until both sides have received RTP, and returns the counts.
    const media = async () => {
      const until = Date.now() + 20_000;
      for (;;) {
        const a = await aliceMedia(), b = await bobMedia();
        if ((a.received > 4000 && b.received > 4000) || Date.now() > until) return { alice: a, bob: b };
        await alice.waitForTimeout(500);
      }
    };

    // alice (JsSIP, the console) calls bob (SIP.js), and hangs up.
    await alice.fill('#dial [name=target]', cfg.bob.user);
    await alice.click('#dial [name=call]');
    await alice.waitForSelector('#call[data-state="established"]');
    await waitBob('established');
    step('out-established');
    const counts = await media();
    if (cfg.shot) await alice.screenshot({ path: cfg.shot, fullPage: true });
    step('out-media', counts);
    await alice.click('#hangup');
    await alice.waitForSelector('#call[data-state="ended"]');
    await waitBob('terminated');
    step('out-ended', { alice: await alice.locator('#call').innerText(), bob: await bobCall() });

    // bob calls alice, who answers on the page, and bob hangs up.
    await bob.evaluate(target => { window.phone.call(target); }, 'sip:' + cfg.alice.user);
    await alice.waitForSelector('#call[data-state="incoming"]');
    step('in-ringing', { text: await alice.locator('#call').innerText() });
    await alice.click('#answer');
    await alice.waitForSelector('#call[data-state="established"]');
    await waitBob('established');
    step('in-media', await media());
    await bob.evaluate(() => window.phone.hangup());
    await alice.waitForSelector('#call[data-state="ended"]');
    await waitBob('terminated');
    step('in-ended', { alice: await alice.locator('#call').innerText(), errors });
  }
  await browser.close();
  server.close();
  clearTimeout(guard);
} catch (err) {
  console.error('webphone.mjs:', err);
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
