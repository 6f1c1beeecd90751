// SPDX-License-Identifier: MIT
// Holds the observer page open in headless chromium on one tab for a
// while, for tests/bench/observer_bench.sh:
//   node tests/browser/open_page.mjs OBSERVER_URL TAB SECONDS
// OBSERVER_URL is the address the service printed (with #token=), TAB one
// of system, procs, points, trace. Prints how many refreshes of the tab's
// data the page made and the console errors it logged; exits 1 on any.
import process from 'node:process';
import { launchBrowser } from './browsers.mjs';

const [url, tab, seconds] = process.argv.slice(2);
if (!url || !tab || !(Number(seconds) > 0)) {
  console.error('usage: open_page.mjs OBSERVER_URL TAB SECONDS');
  process.exit(2);
}
const browser = await launchBrowser('open_page.mjs');
const page = await browser.newPage();
const errors = [];
let requests = 0;
page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
page.on('pageerror', (e) => errors.push(e.message));
page.on('request', (r) => { if (r.url().includes('/api/v1/')) requests++; });
await page.goto(url);
await page.waitForSelector('#system-cards dd');
await page.evaluate((t) => { location.hash = '#/' + t; }, tab);
await page.waitForTimeout(Number(seconds) * 1000);
await browser.close();
console.log(`open_page: ${tab} open ${seconds} s, ${requests} API requests, ${errors.length} console errors`);
for (const e of errors) console.log('open_page: ' + e);
process.exit(errors.length ? 1 : 0);
