// SPDX-License-Identifier: MIT
// The observer page in a real browser: Debian's chromium or firefox-esr
// driven by playwright-core, against a real cat_traveler (ephemeral ports)
// that cat_load keeps busy. Run by ctest (browser.observer and
// browser.observer_firefox):
//   node tests/browser/observer.test.mjs BIN_DIR ARTIFACTS_DIR [chromium|firefox]
// Screenshots of every tab go to ARTIFACTS_DIR. Any console error or
// uncaught exception in the page fails the suite.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser } from './browsers.mjs';

const [binDir, artifacts, kind = 'chromium'] = process.argv.slice(2);
if (!binDir || !artifacts) {
  console.error('usage: observer.test.mjs BIN_DIR ARTIFACTS_DIR [chromium|firefox]');
  process.exit(2);
}
fs.mkdirSync(artifacts, { recursive: true });

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrace-browser-'));
const children = [];
let service;
let observerUrl; // with #token=
let base; // http://127.0.0.1:PORT
let token;
let browser;
let page;
const pageErrors = [];

// Starts a program; resolves with it once `ready` matches its output.
function start(prog, args, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(binDir, prog), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${prog} did not start: ${out}`)), 15000);
    const seen = (chunk) => {
      out += chunk;
      const m = ready && ready.exec(out);
      if (m || !ready) {
        clearTimeout(timer);
        resolve({ child, out, match: m });
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', (c) => { out += c; });
    child.on('exit', (code) => reject(new Error(`${prog} exited with ${code}: ${out}`)));
  });
}

async function apiCall(method, p, body, headers) {
  const r = await fetch(base + p, {
    method,
    headers: Object.assign({ Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' }, headers),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

// A screenshot of the page into ARTIFACTS_DIR; long tables: the window only.
// Sets a number field. fill('') first: playwright's fill over WebDriver
// BiDi leaves a number field's value in place in Firefox and inserts
// before it ("6" into "100" gives "6100").
async function fillNumber(selector, value) {
  await page.fill(selector, '');
  await page.fill(selector, value);
}

// Before every screenshot playwright adds and removes a <style>body {}
// </style> (to settle animations); Firefox blocks it under the page's CSP,
// as it should, and reports it with the hash of that text. That report
// only is left out; any other CSP report fails the suite. caret 'initial':
// hiding the caret would insert a second <style>.
const SCREENSHOT_STYLE = "'sha256-YjaKGiklmzC6wjXA513HAMmzus8VE61XCOT+SmwNZWA='";
async function shot(name, fullPage = true) {
  await page.screenshot({ path: path.join(artifacts, name + '.png'), fullPage, caret: 'initial' });
}

before(async () => {
  const s = await start('cat_traveler', [
    '--port', '0', '--admin-port', '0', '--threads', '2',
    '--token-file', path.join(tmp, 'token'), '--exit-with-parent',
  ], /observer on (\S+)\n[^]*listening on (\S+)\n/);
  service = s.child;
  observerUrl = s.match[1];
  const url = s.match[2];
  base = observerUrl.replace(/\/#token=.*$/, '');
  token = fs.readFileSync(path.join(tmp, 'token'), 'utf8').trim();
  await start('cat_load', ['--url', url, '--rate', '200', '--duration', '0',
    '--cats', '8', '--concurrency', '2', '--exit-with-parent'], null);
  browser = await launchBrowser('observer.test.mjs', kind);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => {
    if (!e.message.includes(SCREENSHOT_STYLE)) pageErrors.push(`exception: ${e.message}`);
  });
});

after(async () => {
  if (browser) await browser.close();
  for (const c of children) c.kill('SIGTERM');
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('without the token the page asks for it and refuses a wrong one', async () => {
  await page.goto(base + '/');
  await page.waitForSelector('#login');
  await shot('login');
  await page.fill('#token', 'not-the-token');
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#login .error');
  assert.match(await page.textContent('#login .error'), /refused the token: wrong token/);
  // Chromium logs the refused check as a console error: that one only.
  // Firefox logs no failed fetch.
  if (kind === 'chromium') assert.ok(pageErrors.length > 0);
  for (const e of pageErrors) assert.match(e, /status of 401 \(Unauthorized\)/);
  pageErrors.length = 0;
});

test('the token URL opens the System tab and leaves the address bar', async () => {
  await page.goto(observerUrl);
  await page.waitForSelector('#system-cards dd');
  assert.doesNotMatch(page.url(), /token/);
  assert.match(page.url(), /#\/system$/);
  const cards = await page.textContent('#system-cards');
  assert.match(cards, /cat_traveler/);
  assert.match(cards, /Resident memory/);
  // The service samples once a second: the charts gain points.
  const points = () => page.$eval('#system-charts figure', (f) => Number(f.dataset.points || 0));
  await page.waitForFunction(() => Number(document.querySelector('#system-charts figure').dataset.points) >= 2,
    null, { timeout: 10000 });
  const before = await points();
  await page.waitForFunction((n) => Number(document.querySelector('#system-charts figure').dataset.points) > n,
    before, { timeout: 10000 });
  await shot('system');
  // The history lives in the service: a reload keeps it.
  const kept = await points();
  await page.reload();
  await page.waitForSelector('#system-cards dd');
  await page.waitForFunction((n) => Number(document.querySelector('#system-charts figure').dataset.points) >= n,
    kept, { timeout: 5000 });
});

test('the process table is live, sortable and filterable', async () => {
  await page.click('#tabs a[data-tab=procs]');
  await page.waitForSelector('#proc-rows tr');
  assert.match(await page.textContent('#proc-rows'), /cat_traveler_srv/);
  // Sort by memory, highest first: a click sorts numbers descending.
  await page.click('button[data-sort=memory]');
  assert.equal(await page.getAttribute('th:has(button[data-sort=memory])', 'aria-sort'), 'descending');
  const memory = await page.$$eval('#proc-rows td[data-col=memory]', (tds) => tds.map((td) => Number(td.textContent)));
  assert.ok(memory.length > 0);
  assert.deepEqual(memory, [...memory].sort((a, b) => b - a));
  await shot('procs', false);
  await page.fill('#proc-filter', 'cat_traveler_srv');
  await page.waitForFunction(() => document.querySelectorAll('#proc-rows tr').length === 1);
  assert.match(await page.textContent('#proc-rows tr'), /cat_traveler_srv/);
  // The rows are keyed by pid: a refresh updates the row, not replaces it.
  await page.$eval('#proc-rows tr', (tr) => { tr.dataset.marked = 'yes'; });
  await page.waitForTimeout(2500);
  assert.equal(await page.getAttribute('#proc-rows tr', 'data-marked'), 'yes');
});

test('the keyboard alone moves between tabs, sorts, filters and opens a process', async () => {
  await page.goto(base + '/#/system');
  await page.waitForSelector('#system-cards dd');
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  // Tab from the top of the page reaches the Processes tab; Enter opens it.
  let reached = false;
  for (let i = 0; i < 30 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement.dataset.tab === 'procs');
  }
  assert.ok(reached, 'Tab reaches the Processes tab');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#proc-rows tr');
  assert.match(page.url(), /#\/procs$/);
  // The column headers are buttons: Enter sorts, again reverses.
  await page.focus('button[data-sort=label]');
  await page.keyboard.press('Enter');
  const order = () => page.getAttribute('th:has(button[data-sort=label])', 'aria-sort');
  const first = await order();
  assert.match(first, /^(ascending|descending)$/);
  await page.keyboard.press('Enter');
  assert.equal(await order(), first === 'ascending' ? 'descending' : 'ascending');
  // Typing into the filter, then Enter on the row's link opens the detail.
  await page.focus('#proc-filter');
  await page.keyboard.type('cat_traveler_srv');
  await page.waitForFunction(() => document.querySelectorAll('#proc-rows tr').length === 1);
  await page.focus('#proc-rows tr a');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#state');
  assert.match(page.url(), /#\/proc\//);
});

test('the tree puts every process once under its parent', async () => {
  await page.click('#tabs a[data-tab=tree]');
  await page.waitForSelector('#tree li[data-pid]');
  // One snapshot: the count the page drew and the processes it drew.
  const { n, drawn, unique } = await page.evaluate(() => {
    const lis = [...document.querySelectorAll('#tree li[data-pid]')];
    const m = /^(\d+) processes/.exec(document.querySelector('#tree-count').textContent);
    return { n: Number(m[1]), drawn: lis.length, unique: new Set(lis.map((li) => li.dataset.pid)).size };
  });
  assert.equal(drawn, n);
  assert.equal(unique, n);
  // The state server began nobody's process under it: a root.
  const srv = await page.$('#tree > ul > li:has(> span:text-is("cat_traveler_srv"))');
  assert.ok(srv, 'cat_traveler_srv is a root');
  // cat_load's requests, ended ones kept, fold under the HTTP threads.
  const fold = page.locator('#tree details[data-group="cat_traveler_http:request/2"]').first();
  await fold.waitFor();
  const summary = await fold.locator('summary').textContent();
  const m = /^(\d+) × cat_traveler_http:request\/2$/.exec(summary);
  assert.ok(m && Number(m[1]) > 3, summary);
  await shot('tree');
  await fold.locator('summary').click();
  assert.ok(await fold.locator('li[data-pid]').first().isVisible());
});

test('the memory tab shows the allocator, the process and ctrace', async () => {
  await page.click('#tabs a[data-tab=memory]');
  await page.waitForSelector('#memory dd');
  const text = await page.textContent('#memory');
  assert.match(text, /In use\d/);
  assert.match(text, /Resident\d[\d.]+ MiB/);
  assert.match(text, /Process table[\d.]+ (B|KiB|MiB) for \d+ processes/);
  await page.waitForFunction(() => Number(document.querySelector('#memory-charts figure').dataset.points) >= 2);
  await shot('memory');
});

test('the ports tab lists the descriptors, the listening sockets among them', async () => {
  await page.click('#tabs a[data-tab=ports]');
  await page.waitForSelector('#fd-rows tr');
  // The admin endpoint's own port, listening, as the page's address says.
  const port = new URL(base).port;
  await page.fill('#fd-filter', 'listen');
  await page.waitForFunction((p) => [...document.querySelectorAll('#fd-rows tr')]
    .some((tr) => tr.children[3].textContent === `127.0.0.1:${p}`), port);
  assert.match(await page.textContent('#fd-summary'), /^\d+ open: \d+ sockets, \d+ files, \d+ pipes/);
  await page.fill('#fd-filter', '');
  await shot('ports');
  await page.click('#tabs a[data-tab=procs]');
  await page.waitForSelector('#proc-rows tr');
  await page.fill('#proc-filter', 'cat_traveler_srv');
  await page.waitForFunction(() => document.querySelectorAll('#proc-rows tr').length === 1);
});

test('the server detail shows live state, refuses a bad state and suspends', async () => {
  await page.click('#proc-rows tr a');
  await page.waitForSelector('#state');
  await page.waitForFunction(() => /"cats"/.test(document.querySelector('#state').textContent));
  // cat_load moves cats: one of its cats is in a town in the state.
  const state = JSON.parse(await page.textContent('#state'));
  assert.ok(Object.keys(state.cats).length > 0, 'cats in towns');
  await shot('proc');
  // The demo's state changes with every request: replace it unguarded.
  await page.uncheck('#if-unchanged');
  await page.fill('#state-editor', '{"cats": 42}');
  await page.click('#replace-state');
  await page.waitForFunction(() => /refused/.test(document.querySelector('#server-message').textContent));
  assert.match(await page.textContent('#server-message'), /refused: .*expected \{"cats"/);
  // The old state stays.
  const still = await apiCall('GET', '/api/v1/procs/cat_traveler_srv/state');
  assert.equal(still.status, 200);
  assert.equal(typeof still.json.state.cats, 'object');

  await page.click('#suspend');
  await page.waitForFunction(() => /"status": "suspended"/.test(document.querySelector('#status-view').textContent));
  await page.click('#resume');
  await page.waitForFunction(() => /"status": "running"/.test(document.querySelector('#status-view').textContent));

  // "Trace this process": its messages, with the pid filter.
  const pid = /Process (<0\.\d+\.0>)/.exec(await page.textContent('h1'))[1];
  await page.waitForFunction(() => /spec=send/.test(document.querySelector('#trace-proc').getAttribute('href')));
  await page.click('#trace-proc');
  await page.waitForSelector('#spec');
  assert.equal(await page.inputValue('#procs'), pid);
  assert.match(await page.inputValue('#spec'), /^send\nreceive/);
  await fillNumber('#msgs', '6');
  await page.waitForFunction(() => document.querySelector('#spec-error').textContent === '');
  await page.click('#start-trace');
  await page.waitForSelector('.trace:last-child .stop-line:not(:empty)', { timeout: 20000 });
  assert.match(await page.textContent('.trace:last-child .stop-line'), /stopped: msgs limit 6 reached/);
  const kinds = await page.$$eval('.trace:last-child tr.event', (trs) => trs.map((tr) => tr.dataset.kind));
  assert.ok(kinds.some((k) => k === 'receive' || k === 'send'), kinds.join(' '));
  const pids = await page.$$eval('.trace:last-child tr.event td:nth-child(2)', (tds) => tds.map((td) => td.textContent));
  assert.ok(pids.every((p) => p === pid), pids.join(' '));
});

test('a trace from the form shows calls and returns and stops at its msgs limit', async () => {
  // A fresh page: no session of the tests before in its tabs.
  await page.goto(base + '/#/trace');
  await page.reload();
  await page.waitForSelector('#spec');
  await page.fill('#spec', 'cat_traveler:enter(');
  await page.waitForFunction(() => document.querySelector('#spec-error').textContent.length > 0);
  assert.match(await page.textContent('#spec-error'), /column 20: expected a pattern, got end of input/);
  await page.fill('#spec', 'cat_traveler:enter/2 -> return');
  await page.waitForFunction(() => document.querySelector('#spec-error').textContent === '');
  await fillNumber('#msgs', '4');
  await page.click('#start-trace');
  await page.waitForSelector('.stop-line:not(:empty)', { timeout: 20000 });
  assert.match(await page.textContent('.stop-line'), /stopped: msgs limit 4 reached \(4 events/);
  const kinds = await page.$$eval('table.events tr.event', (trs) => trs.map((tr) => tr.dataset.kind));
  assert.deepEqual(kinds.length, 4);
  assert.ok(kinds.includes('call') && kinds.includes('return'));
  assert.match(await page.textContent('table.events'), /cat_traveler:enter\("/);
  await shot('trace');
  // The Metrics tab charts the service's per-point counters, whoever
  // started the session: here one over the API, as the CLI would.
  const started = await apiCall('POST', '/api/v1/sessions',
    { specs: ['cat_traveler:leave/2'], msgs: 5000, time_ms: 8000 });
  assert.equal(started.status, 201);
  await page.click('#tabs a[data-tab=metrics]');
  const leave = '#point-charts figure[data-point="cat_traveler:leave/2"]';
  await page.waitForSelector(leave, { timeout: 10000 });
  await page.waitForFunction(() => /ctrace_point_events_total\{point="cat_traveler:leave\/2"\} \d+/
    .test(document.querySelector('#metrics-text').textContent));
  await page.waitForFunction((sel) => /^[1-9][\d.]* \/s$/.test(document.querySelector(sel + ' text').textContent),
    leave, { timeout: 10000 });
  assert.equal((await apiCall('DELETE', started.json.events.replace(/\/events$/, ''))).status, 200);
  await shot('metrics');
});

test('trace points are listed and one click fills the trace form', async () => {
  await page.click('#tabs a[data-tab=points]');
  await page.waitForSelector('#point-rows tr');
  await page.fill('#point-filter', 'cat_traveler:leave');
  await page.waitForFunction(() => document.querySelectorAll('#point-rows tr').length === 1);
  await shot('points');
  await page.click('#point-rows a');
  await page.waitForSelector('#spec');
  assert.match(await page.inputValue('#spec'), /^cat_traveler:leave\/\d+$/);
});

test('a page of another origin cannot drive the API', async () => {
  // A direct request with a foreign Origin is refused, token or not.
  const r = await apiCall('POST', '/api/v1/sessions', { specs: ['cat_traveler:enter'] },
    { Origin: 'http://evil.example' });
  assert.equal(r.status, 403);
  assert.equal(r.json.error, 'forbidden_origin');
  // And in the browser: a page served from another port, holding the
  // token even, posts a session; nothing starts.
  const before = (await apiCall('GET', '/api/v1/sessions')).json.sessions.length;
  const evil = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<script>
      fetch(${JSON.stringify(base)} + '/api/v1/sessions', {method: 'POST',
        headers: {Authorization: 'Bearer ${token}', 'Content-Type': 'application/json'},
        body: JSON.stringify({specs: ['cat_traveler:enter']})})
        .then((r) => { document.title = 'status ' + r.status; })
        .catch(() => { document.title = 'blocked'; });
      fetch(${JSON.stringify(base)} + '/api/v1/sessions', {method: 'POST', mode: 'no-cors',
        body: JSON.stringify({specs: ['cat_traveler:enter']})}).catch(() => {});
    </script>`);
  });
  await new Promise((resolve) => evil.listen(0, '127.0.0.1', resolve));
  const other = await browser.newPage();
  await other.goto(`http://127.0.0.1:${evil.address().port}/`);
  await other.waitForFunction(() => document.title !== '', null, { timeout: 10000 });
  await other.close();
  evil.close();
  const now = (await apiCall('GET', '/api/v1/sessions')).json.sessions.length;
  assert.equal(now, before, 'no session started from another origin');
});

test('a read-only endpoint shows everything and offers no write', async () => {
  const s = await start('cat_traveler', [
    '--port', '0', '--admin-port', '0', '--threads', '1', '--admin-read-only',
    '--token-file', path.join(tmp, 'token-ro'), '--exit-with-parent',
  ], /observer on (\S+)\n/);
  const roUrl = s.match[1];
  const roBase = roUrl.replace(/\/#token=.*$/, '');
  await page.goto(roUrl);
  await page.waitForSelector('#system-cards dd');
  assert.equal(await page.textContent('#mode'), 'read-only');
  await page.goto(roBase + '/#/trace');
  await page.waitForSelector('#trace-read-only');
  assert.ok(await page.isVisible('#trace-read-only'));
  assert.ok(!(await page.isVisible('#start-trace')), 'no Start button');
  await shot('trace-read-only');
  await page.goto(roBase + '/#/proc/cat_traveler_srv');
  await page.waitForSelector('#state');
  await page.waitForFunction(() => /"cats"/.test(document.querySelector('#state').textContent));
  assert.ok(!(await page.isVisible('#suspend')), 'no Suspend button');
  assert.ok(!(await page.isVisible('#replace-state')), 'no Replace button');
  // The endpoint refuses what the page no longer offers.
  const r = await fetch(roBase + '/api/v1/procs/cat_traveler_srv/sys', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + fs.readFileSync(path.join(tmp, 'token-ro'), 'utf8').trim() },
    body: JSON.stringify({ command: 'suspend' }),
  });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).error, 'read_only');
  s.child.kill('SIGTERM');
});

test('the page is small and cached by ETag', async () => {
  let total = 0;
  for (const f of ['/', '/observer.js', '/observer.css']) {
    const r = await fetch(base + f);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    assert.match(r.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'/);
    total += (await r.arrayBuffer()).byteLength;
    const again = await fetch(base + f, { headers: { 'If-None-Match': r.headers.get('etag') } });
    assert.equal(again.status, 304);
  }
  assert.ok(total < 200 * 1024, `${total} bytes`);
});

test('no console errors in the page', () => {
  // Chromium logs every answer of 400 and up as a console error (Firefox
  // none). Since the token test (which clears its 401s), the suite provokes
  // two kinds on purpose: a bad pattern (400) and a refused state (422).
  // Every other error fails: a missing file (the favicon included), a
  // script error, a CSP violation, a 401, 404, 412 or 500.
  const expected = /^console: Failed to load resource: the server responded with a status of (400|422) /;
  const unexpected = pageErrors.filter((e) => !expected.test(e));
  assert.deepEqual(unexpected, []);
});
