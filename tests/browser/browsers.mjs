// SPDX-License-Identifier: MIT
// The browsers the suite drives with playwright-core, headless: Debian's
// chromium (over CDP) and Debian's firefox-esr (over WebDriver BiDi,
// playwright's "moz-firefox" channel, which takes a stock Firefox). What
// the browser suite and tests/bench/observer_bench.sh start.
// CTRACE_CHROMIUM and CTRACE_FIREFOX name other binaries. playwright never
// downloads a browser here; the flags keep both off the network, which
// this machine's sandbox closes.
//
// playwright-core stays at 1.64.1: 1.65 sends a BiDi command
// (emulation.setMediaFeaturesOverride) that Firefox ESR 153 does not know,
// and every new page fails.
import fs from 'node:fs';
import process from 'node:process';

export const browserPaths = {
  chromium: process.env.CTRACE_CHROMIUM || '/usr/bin/chromium',
  firefox: process.env.CTRACE_FIREFOX || '/usr/bin/firefox-esr',
};

const debianPackage = { chromium: 'chromium', firefox: 'firefox-esr' };

// Resolves with a launched browser of `kind` (chromium or firefox), or
// exits 1 saying what is missing.
export async function launchBrowser(who, kind = 'chromium') {
  const path = browserPaths[kind];
  if (!path) {
    console.error(`${who}: no browser called "${kind}": chromium or firefox`);
    process.exit(2);
  }
  let pw;
  try {
    pw = await import('playwright-core');
  } catch (e) {
    console.error(`${who}: no playwright-core; run \`npm ci\` in tests/browser (make test does): ${e.message}`);
    process.exit(1);
  }
  if (!fs.existsSync(path)) {
    console.error(`${who}: no browser at ${path}; make test installs Debian's ${debianPackage[kind]}`);
    process.exit(1);
  }
  if (kind === 'firefox') {
    return pw.firefox.launch({
      channel: 'moz-firefox',
      executablePath: path,
      headless: true,
      firefoxUserPrefs: {
        'network.captive-portal-service.enabled': false,
        'app.update.enabled': false,
        'browser.safebrowsing.downloads.remote.enabled': false,
        'datareporting.policy.dataSubmissionEnabled': false,
        'network.connectivity-service.enabled': false,
      },
    });
  }
  return pw.chromium.launch({
    executablePath: path,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
