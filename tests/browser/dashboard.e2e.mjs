// The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core) against
// a real `ringfence server` and real `ringfence-agent` processes (docs/dashboard.md "Tests"):
//   1. a good bundle is released; the release page shows its waves advancing; the operator presses
//      Halt (confirming, with a reason); the page shows Halted and the agents stop installing;
//      the halt is in the audit log under the operator's name;
//   2. a principal without the operator role sees no steering buttons;
//   3. XSS: a device attribute and a halt reason holding markup/script show as text, nothing runs;
//   4. Channel File 291 released: the gate halts it; a screenshot of the page is written to docs/;
//   5. axe-core on every page: no serious or critical violations.
// Usage: node dashboard.e2e.mjs (paths from the environment, see run.sh).
import { mkdtempSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Fleet, sleep, waitFor } from './fleet.mjs';

const env = (k) => {
  if (!process.env[k]) throw new Error('missing environment variable ' + k);
  return process.env[k];
};
const SRC = env('RF_SOURCE_DIR');
const BIN = env('RF_BINARY_DIR');
const require = createRequire(join(SRC, 'web', 'package.json'));
const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
// Screenshots go to the build tree; RF_SCREENSHOTS_DIR=docs/images refreshes the committed ones
// (docs/dashboard.md "Tests"), so an ordinary test run leaves the source tree clean.
const shots = process.env.RF_SCREENSHOTS_DIR || join(BIN, 'screenshots');
mkdirSync(shots, { recursive: true });

const XSS_ATTR = '<img src=x onerror=window.__xss=1>';
const XSS_REASON = '<script>window.__xss=2</script><b onmouseover=alert(1)>halted from the dashboard test</b>';

const GOOD_PLAN = `plan: dashboard-e2e
waves:
  - {name: canary, devices: 1%, stratify: [os, agent_version], min_per_stratum: 2, dispatch: 2s, bake: 3s}
  - {name: half, devices: 50%, dispatch: 60s, bake: 5s}
  - {name: all, devices: 100%, dispatch: 2s, bake: 2s}
gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 3s, confirm_after: 3s, holdback: 1%}
on_failure: rollback
`;
// The demo's staged plan (src/demo/demo.cc StagedPlan) with a 10 s canary bake.
const CF291_PLAN = `plan: demo-staged
waves:
  - {name: canary, devices: 1%, stratify: [os, agent_version], min_per_stratum: 2, dispatch: 2s, bake: 10s}
  - {name: all, devices: 100%, dispatch: 2s, bake: 2s}
gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 3s, confirm_after: 3s, holdback: 1%}
on_failure: rollback
`;

let failures = 0;
let currentPage = null;  // dumped when a step fails

async function dumpPage(dir) {
  if (!currentPage) return;
  try {
    console.log('--- page at failure: ' + currentPage.url());
    console.log('status line: ' + await currentPage.textContent('#status'));
    console.log((await currentPage.innerText('body')).slice(0, 3000));
    await currentPage.screenshot({ path: join(dir, 'failure.png'), fullPage: true });
    console.log('screenshot ' + join(dir, 'failure.png'));
  } catch (e) { console.log('(could not dump the page: ' + e + ')'); }
}
function check(cond, what) {
  console.log(`${cond ? 'PASS' : 'FAIL'}: ${what}`);
  if (!cond) failures++;
}

async function signIn(page, url, token) {
  await page.goto(url + '/ui/');
  await page.fill('#token', token);
  await page.click('form.login button[type=submit]');
  await page.waitForSelector('#who:not(:empty)');
}

// Polls from here (page.waitForFunction would need eval in the page, which the CSP refuses).
async function waitText(page, selector, re, timeout) {
  await waitFor(`${selector} to match ${re}`, timeout, async () => {
    const t = await page.textContent(selector, { timeout: 1000 }).catch(() => null);
    return t !== null && re.test(t);
  });
}

async function axeCheck(page, label) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of bad) console.log(`  axe ${label}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} nodes)`);
  check(bad.length === 0, `axe-core: no serious or critical violations on ${label}`);
}

async function main() {
  const dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), 'rf-browser-'));
  console.log('work dir ' + dir);
  const fleet = new Fleet({
    bin: join(BIN, 'apps/ringfence'), agentBin: join(BIN, 'apps/ringfence-agent/ringfence-agent'),
    sensorBin: join(BIN, 'examples/sensor/ringfence-sensor'), samples: join(SRC, 'samples/content'), dir,
  });
  const browser = await chromium.launch({
    executablePath: process.env.RF_CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  try {
    await fleet.startServer();
    await fleet.provision();
    fleet.startHosts([
      { os: 'windows', agent_version: '7.11', integration: 'legacy', n: 5, extraAttrs: { group: XSS_ATTR } },
      { os: 'windows', agent_version: '7.15', integration: 'legacy', n: 5 },
      { os: 'linux', agent_version: '7.16', integration: 'correct', n: 5 },
    ]);
    // Enrolled is not enough: the what-if view needs every device's consumer manifest (its
    // capabilities), which a slow agent (ASan, a busy machine) reports a check-in later.
    const takingIpcRule = (f) => f.strata.filter((s) => s.capabilities && s.capabilities.ipc_rule)
      .reduce((n, s) => n + s.devices, 0);
    await waitFor('every device enrolled and reporting its ipc_rule consumer', 180000,
      async () => takingIpcRule(await fleet.api('GET', '/v1/fleet', fleet.admin)) >= fleet.hosts.length);

    const cf291 = readFileSync(join(SRC, 'samples/content/cf291.bundle.yaml'), 'utf8');
    // The good bundle: CF291's items with nothing at the 21st field, one version lower (as the demo).
    const good = cf291.replace(/peer_pipe_regex: "[^"]*"/g, 'peer_pipe_regex: "*"').replace(/version: 1291/, 'version: 1290');
    const goodSha = await fleet.upload('good', good);
    // Created, not started yet: the page shows "what if this content were bad" first.
    const r1 = (await fleet.api('POST', '/v1/releases', fleet.author, { bundle_sha256: goodSha, plan_yaml: GOOD_PLAN })).release_id;

    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1600 } });
    const page = await ctx.newPage();
    currentPage = page;
    page.on('pageerror', (e) => console.log('page error: ' + e));
    let dialogs = 0;
    page.on('dialog', (d) => { dialogs++; d.dismiss(); });
    // The page's API requests (live updates are the long-poll, not a poll per second).
    const requests = [];
    page.on('request', (r) => { if (new URL(r.url()).pathname.startsWith('/v1/')) requests.push(new URL(r.url()).pathname); });
    const cspViolations = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
    await signIn(page, fleet.url, fleet.operator);
    await page.waitForSelector(`a[data-test=release-link]:text("${r1}")`);
    await axeCheck(page, 'releases');
    await page.click(`a[data-test=release-link]:text("${r1}")`);
    await page.waitForSelector('[data-test=what-if] [data-test=sim-chart] canvas', { timeout: 60000 });
    const whatIfCharts = (await page.$$('[data-test=what-if] [data-test=sim-chart]')).length;
    const whatIfRows = await page.$$eval('[data-test=what-if] [data-test=policy-table] tbody tr', (rows) => rows.map((r) => r.textContent));
    check(whatIfCharts === 2 && whatIfRows.length === 2 && /ringfence/.test(whatIfRows[0]) && /yes/.test(whatIfRows[0]),
      `before the start, "what if this content were bad": the plan halts in simulation, next to all-at-once (${whatIfRows.join(' | ')})`);
    await fleet.api('POST', `/v1/releases/${r1}/start`, fleet.operator, {});

    // 1. Waves advance in the page (without reloading).
    // (the server appends the plan's holdback as a last wave)
    await waitText(page, '[data-test=release-head]', /wave 1 of \d/, 60000);
    check(true, 'release page shows wave 1');
    await waitText(page, '[data-test=release-head]', /wave 2 of \d \(half\)/, 120000);
    check(true, 'release page shows the release advance to wave 2 live, without reloading');
    const floorsMet = (await page.$$('[data-test=strata] [data-test=floor-met]')).length;
    check(floorsMet === 3, `the canary coverage shows the floor met in each of the 3 strata (${floorsMet})`);
    await waitFor('some devices on v1290 in wave 2', 60000,
      async () => fleet.installed().filter((v) => v === 1290).length >= 7);
    await axeCheck(page, 'release');

    // Halt, confirmed, with a reason (holding markup: shown as text).
    await page.click('[data-test=btn-halt]');
    await page.waitForSelector('dialog[data-test=confirm]');
    await page.fill('dialog #reason', XSS_REASON);
    const clicked = Date.now();
    await page.click('[data-test=confirm-yes]');
    await page.waitForSelector('[data-test=phase]:text("Halted")', { timeout: 10000 });
    const shownMs = Date.now() - clicked;
    check(shownMs <= 2000 + 1000, `page shows Halted ${shownMs} ms after the confirmation (budget 2 s + 1 s request)`);
    check((await fleet.phase(r1)) === 'Halted', 'the server says Halted');
    await sleep(3000);  // check-ins in flight when the halt landed
    const atHalt = fleet.installed();
    const requestsAtHalt = requests.length;
    await sleep(8000);
    const later = fleet.installed();
    const quiet = requests.slice(requestsAtHalt);
    const redraws = quiet.filter((p) => p === `/v1/releases/${r1}`).length;
    check(requests.includes('/v1/changes') && redraws <= 2,
      `live updates come from the long-poll: ${redraws} redraws and ${quiet.filter((p) => p === '/v1/changes').length} long-polls in 8 s of a halted release (a 1-second poll would redraw 8 times)`);
    const n1290 = later.filter((v) => v === 1290).length;
    check(JSON.stringify(atHalt) === JSON.stringify(later), `no agent installed anything in the 8 s after the halt (${n1290} of ${later.length} on v1290)`);
    check(n1290 < later.length, 'the halt stopped the rollout before every device had it');
    const audit = await fleet.api('GET', '/v1/audit?after=0&limit=1000', fleet.admin);
    check(audit.entries.some((e) => e.subject === r1 && e.actor === 'olivia' && /halt/.test(e.action)),
      'the halt is audited under the operator\'s name, like the CLI\'s');

    // 3. XSS: the reason shows as text, no element made from it.
    const reasonText = await page.textContent('[data-test=reason]');
    check(reasonText.includes(XSS_REASON), 'the halt reason shows literally as text');
    await page.goto(fleet.url + '/ui/#/fleet');
    await page.waitForSelector(`[data-test=strata] :text("group=${XSS_ATTR}")`, { timeout: 10000 });
    check(true, 'the device attribute holding markup shows literally as text on the fleet page');
    await page.waitForSelector('[data-test=versions] :text("1290")', { timeout: 10000 });
    check(/\d+ seen in the last \d+ s/.test(await page.textContent('[data-test=health]')), 'the fleet page shows the installed versions per channel and the devices\' health');
    await axeCheck(page, 'fleet');
    const injected = await page.evaluate(() => ({
      xss: window.__xss, imgs: document.querySelectorAll('img').length,
      scripts: [...document.querySelectorAll('script')].filter((s) => !s.src).length,
      bold: document.querySelectorAll('b').length,
    }));
    check(injected.xss === undefined && dialogs === 0, 'no injected script ran (no alert, window.__xss unset)');
    check(injected.imgs === 0 && injected.scripts === 0 && injected.bold === 0, 'no element was created from data');
    await page.goto(fleet.url + '/ui/#/audit');
    await page.waitForSelector('[data-test=audit-verify]');
    check(/Chain verified/.test(await page.textContent('[data-test=audit-verify]')), 'the audit page shows the chain verified');
    await axeCheck(page, 'audit');
    check(cspViolations.length === 0, `no Content-Security-Policy violations (${cspViolations.join('; ')})`);

    // 2. A reviewer sees the release without the buttons.
    const vctx = await browser.newContext();
    const vpage = await vctx.newPage();
    await signIn(vpage, fleet.url, fleet.viewer);
    await vpage.goto(fleet.url + '/ui/#/release/' + r1);
    await vpage.waitForSelector('[data-test=phase]');
    check((await vpage.$$('[data-test=actions] button')).length === 0, 'a reviewer gets no steering buttons');
    await vctx.close();

    // 4. Channel File 291: the gate halts it; the page during the halt is the screenshot.
    const badSha = await fleet.upload('cf291', cf291);
    const r2 = await fleet.release(badSha, CF291_PLAN);
    await page.goto(fleet.url + '/ui/#/release/' + r2);
    await page.waitForSelector('[data-test=phase]:text-matches("Halted|RolledBack")', { timeout: 150000 });
    check(true, 'the CF291 release is halted by the gate and the page shows it');
    const endsAt = await waitFor('the CF291 history to end at the decision', 30000, async () => {
      const hist = await fleet.api('GET', `/v1/releases/${r2}/history`, fleet.operator);
      const last = hist.samples[hist.samples.length - 1];
      return last && last.decision ? last : null;
    });
    check(endsAt.max_e >= endsAt.threshold && endsAt.threshold > 0,
      `the evidence chart ends at the decision's own e-value (${endsAt.max_e} against threshold ${endsAt.threshold})`);
    await sleep(2500);  // the charts take the last samples
    await page.screenshot({ path: join(shots, 'dashboard-cf291-halt.png'), fullPage: true });
    console.log('screenshot ' + join(shots, 'dashboard-cf291-halt.png'));
    await ctx.close();

    // 6. `ringfence sim --compare --html`: one self-contained page, opened from the file.
    const html = join(dir, 'sim.html');
    // --skip-layer1: layer 1 alone refuses CF291 and nothing would ship; the picture is about
    // what each rollout policy does with it.
    fleet.rf('sim', join(SRC, 'samples/scenarios/cf291.yaml'), '--compare', '--skip-layer1', '--html', html);
    const sctx = await browser.newContext({ viewport: { width: 1100, height: 900 }, offline: true });
    const spage = await sctx.newPage();
    const errors = [];
    spage.on('pageerror', (e) => errors.push(String(e)));
    spage.on('request', (r) => { if (!r.url().startsWith('file:')) errors.push('fetched ' + r.url()); });
    await spage.goto('file://' + html);
    await spage.waitForSelector('[data-test=sim-chart] canvas');
    const charts = await spage.$$('[data-test=sim-chart]');
    const policies = (await spage.$$('[data-test=policy-table] tbody tr')).length;
    check(policies >= 2 && charts.length === policies, `sim page: one chart per policy (${charts.length} charts, ${policies} policies)`);
    check(errors.length === 0, `sim page: no script error and nothing fetched offline (${errors.join('; ')})`);
    await axeCheck(spage, 'sim --html');
    await spage.screenshot({ path: join(shots, 'sim-compare.png'), fullPage: true });
    console.log('screenshot ' + join(shots, 'sim-compare.png'));
    await sctx.close();
  } catch (e) {
    await dumpPage(dir);
    throw e;
  } finally {
    await browser.close();
    await fleet.stop();
  }
  if (failures) {
    console.log(`${failures} check(s) failed; logs in ${dir}`);
    process.exit(1);
  }
  console.log('all checks passed');
}

main().catch((e) => {
  console.error('FAIL: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
