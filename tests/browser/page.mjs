// What the browser tests share (tests/browser/*.e2e.mjs): paths from the environment (run.sh),
// playwright-core and axe-core from web/node_modules, the checks' tally, and the page helpers.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Fleet, waitFor } from './fleet.mjs';

const env = (k) => {
  if (!process.env[k]) throw new Error('missing environment variable ' + k);
  return process.env[k];
};
export const SRC = env('RF_SOURCE_DIR');
export const BIN = env('RF_BINARY_DIR');
const require = createRequire(join(SRC, 'web', 'package.json'));
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
// Screenshots go to the build tree; RF_SCREENSHOTS_DIR=docs/images refreshes the committed ones
// (docs/dashboard.md "Tests"), so an ordinary test run leaves the source tree clean.
export const shots = process.env.RF_SCREENSHOTS_DIR || join(BIN, 'screenshots');
mkdirSync(shots, { recursive: true });

// The binaries and samples a Fleet (fleet.mjs) runs, under `dir`.
export function fleetPaths(dir) {
  return {
    bin: join(BIN, 'apps/ringfence'), agentBin: join(BIN, 'apps/ringfence-agent/ringfence-agent'),
    sensorBin: join(BIN, 'examples/sensor/ringfence-sensor'), samples: join(SRC, 'samples/content'), dir,
  };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.RF_CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

let failures = 0;
export const failed = () => failures;
export function check(cond, what) {
  console.log(`${cond ? 'PASS' : 'FAIL'}: ${what}`);
  if (!cond) failures++;
}

// The page's state when a step failed: status line, text, a screenshot in `dir`.
export async function dumpPage(page, dir) {
  if (!page) return;
  try {
    console.log('--- page at failure: ' + page.url());
    console.log('status line: ' + await page.textContent('#status', { timeout: 1000 }));
    console.log((await page.innerText('body')).slice(0, 3000));
    await page.screenshot({ path: join(dir, 'failure.png'), fullPage: true });
    console.log('screenshot ' + join(dir, 'failure.png'));
  } catch (e) { console.log('(could not dump the page: ' + e + ')'); }
}

export async function signIn(page, url, token) {
  await page.goto(url + '/ui/');
  await page.fill('#token', token);
  await page.click('form.login button[type=submit]');
  await page.waitForSelector('#who:not(:empty)');
}

// Polls from here (page.waitForFunction would need eval in the page, which the CSP refuses).
export async function waitText(page, selector, re, timeout) {
  await waitFor(`${selector} to match ${re}`, timeout, async () => {
    const t = await page.textContent(selector, { timeout: 1000 }).catch(() => null);
    return t !== null && re.test(t);
  });
}

export async function axeCheck(page, label) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of bad) console.log(`  axe ${label}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} nodes)`);
  check(bad.length === 0, `axe-core: no serious or critical violations on ${label}`);
}

// Runs one browser test: `body(t)` gets t.dir (a fresh work directory), t.paths (fleetPaths),
// t.fleet (a Fleet, not started), t.browser, and t.watch(page) naming the page to dump if a step
// throws. Stops the browser and every process of the fleet; exits 1 if a step threw or a check
// failed.
export async function runTest(name, body) {
  const dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), `rf-browser-${name}-`));
  console.log('work dir ' + dir);
  const paths = fleetPaths(dir);
  const fleet = new Fleet(paths);
  let browser = null;
  let watched = null;
  let threw = null;
  try {
    browser = await launchBrowser();
    await body({ dir, paths, fleet, browser, watch: (page) => { watched = page; } });
  } catch (e) {
    threw = e;
    await dumpPage(watched, dir);
  } finally {
    if (browser) await browser.close().catch(() => {});
    await fleet.stop();
  }
  if (threw) {
    console.error('FAIL: ' + (threw && threw.stack ? threw.stack : threw));
    console.log(`logs in ${dir}`);
    process.exit(1);
  }
  if (failures) {
    console.log(`${failures} check(s) failed; logs in ${dir}`);
    process.exit(1);
  }
  console.log('all checks passed');
}
