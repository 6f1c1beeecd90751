// SPDX-License-Identifier: MIT
// Debian's chromium, headless, driven by playwright-core: what the browser
// suite and tests/bench/observer_bench.sh start. CTRACE_CHROMIUM names
// another binary. playwright never downloads a browser here; the flags
// keep chromium off the network, which this machine's sandbox closes.
import fs from 'node:fs';
import process from 'node:process';

export const browserPath = process.env.CTRACE_CHROMIUM || '/usr/bin/chromium';

// Resolves with a launched browser, or exits 1 saying what is missing.
export async function launchChromium(who) {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    console.error(`${who}: no playwright-core; run \`npm ci\` in tests/browser (make test does): ${e.message}`);
    process.exit(1);
  }
  if (!fs.existsSync(browserPath)) {
    console.error(`${who}: no browser at ${browserPath}; make test installs Debian's chromium`);
    process.exit(1);
  }
  return chromium.launch({
    executablePath: browserPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
