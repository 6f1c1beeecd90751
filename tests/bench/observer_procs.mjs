// SPDX-License-Identifier: MIT
// The observer's Processes tab with thousands of live processes, not run
// by ctest: starts many_procs (N processes, ten times a second CHURN of them
// end and as many begin), opens the tab in headless chromium and reports
//   - the listing the tab fetches every 2 s: bytes and the service's time
//     to answer it (curl-like, from Node.js, beside the page);
//   - the time from opening the tab to its first rows;
//   - the page's main thread over SECONDS: busy share (Chrome's
//     TaskDuration), long tasks (over 50 ms) and the longest;
//   - a filter typed into the table: keystroke to redrawn rows.
//   node tests/bench/observer_procs.mjs BIN_DIR [N] [SECONDS] [CHURN]
// BIN_DIR holds many_procs (build/bin); N defaults to 5000, SECONDS to 20,
// CHURN to 10. Needs tests/browser's playwright-core (make test installs
// it) and /usr/bin/chromium.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { launchBrowser } from '../browser/browsers.mjs';

const [binDir, nArg = '5000', secArg = '20', churnArg = '10'] = process.argv.slice(2);
const n = Number(nArg);
const seconds = Number(secArg);
const churn = Number(churnArg);
if (!binDir || !(n > 0) || !(seconds > 0) || !(churn > 0)) {
  console.error('usage: observer_procs.mjs BIN_DIR [N] [SECONDS] [CHURN]');
  process.exit(2);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrace-procs-'));
const service = spawn(path.join(binDir, 'many_procs'),
  [String(n), String(seconds + 60), path.join(tmp, 'token'), String(churn)],
  { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  let out = '';
  service.stdout.on('data', (c) => {
    out += c;
    const m = /observer on (\S+)\n/.exec(out);
    if (m) resolve(m[1]);
  });
  service.on('exit', (code) => reject(new Error(`many_procs exited with ${code}`)));
});
const base = url.replace(/\/#token=.*$/, '');
const token = fs.readFileSync(path.join(tmp, 'token'), 'utf8').trim();

// The listing the tab fetches, five times: its size and answer times.
const times = [];
let bytes = 0;
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  const r = await fetch(base + '/api/v1/procs?limit=100000&dead=1',
    { headers: { Authorization: 'Bearer ' + token } });
  bytes = (await r.arrayBuffer()).byteLength;
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);

const browser = await launchBrowser('observer_procs.mjs');
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
page.on('pageerror', (e) => errors.push(e.message));
await page.addInitScript(() => {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push(e.duration);
  }).observe({ type: 'longtask', buffered: true });
});
const cdp = await page.context().newCDPSession(page);
await cdp.send('Performance.enable');
const taskSeconds = async () => {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return metrics.find((m) => m.name === 'TaskDuration').value;
};

await page.goto(url);
await page.waitForSelector('#system-cards dd');
const open0 = performance.now();
await page.evaluate(() => { location.hash = '#/procs'; });
await page.waitForFunction(() => document.querySelectorAll('#proc-rows tr').length > 0, null, { timeout: 30000 });
const openMs = performance.now() - open0;
const shown = await page.$$eval('#proc-rows tr', (trs) => trs.length);
const total = await page.textContent('#proc-total').catch(() => '');

await page.evaluate(() => { window.__longTasks = []; });
const busy0 = await taskSeconds();
const w0 = performance.now();
await page.waitForTimeout(seconds * 1000);
const wall = (performance.now() - w0) / 1000;
const busy = (await taskSeconds()) - busy0;
const long = await page.evaluate(() => window.__longTasks);

// A filter: the rows of one worker, from the keystroke to the redraw.
const f0 = performance.now();
await page.fill('#proc-filter', 'worker_4242/');
await page.waitForFunction(() => document.querySelectorAll('#proc-rows tr').length <= 1, null, { timeout: 30000 });
const filterMs = performance.now() - f0;

await browser.close();
service.kill('SIGTERM');
fs.rmSync(tmp, { recursive: true, force: true });

const ms = (v) => v.toFixed(1);
console.log(`observer_procs: ${n} processes, ${churn} end and ${churn} begin every 100 ms`);
console.log(`  listing (limit=100000&dead=1): ${bytes} bytes, answered in ${ms(times[0])}-${ms(times[4])} ms (median ${ms(times[2])})`);
console.log(`  Processes tab: first rows after ${ms(openMs)} ms; ${shown} rows drawn (page of 200); ${total}`);
console.log(`  main thread over ${wall.toFixed(1)} s: busy ${(100 * busy / wall).toFixed(1)}%, `
  + `${long.length} long tasks (> 50 ms), longest ${long.length ? ms(Math.max(...long)) : '0'} ms`);
console.log(`  filter typed: rows redrawn after ${ms(filterMs)} ms`);
console.log(`  console errors: ${errors.length}`);
for (const e of errors) console.log('  ' + e);
process.exit(errors.length ? 1 : 0);
