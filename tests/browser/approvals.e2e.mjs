// Approvals in the dashboard, from real reviews (docs/dashboard.md "Tests"): a `ringfence server`
// with layer 1 on, layer 2 on upload (the example sensor's correct build) and a channel policy
// of one reviewer's approval. A bundle is uploaded (layer 1 finds no consumer in the empty fleet:
// a warning), a release created; the page shows it awaiting approval with both layers' reports;
// the reviewer approves it with `ringfence release approve` (his own key); the page shows who
// approved, when, with which key, over which reports (their digest, recomputed here), and the
// layer-1 finding and the layer-2 result that approval covered; the release is then Ready.
// Usage: node approvals.e2e.mjs (paths from the environment, see run.sh).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SRC, axeCheck, check, runTest, signIn, waitText } from './page.mjs';

// The demo's staged plan (src/demo/demo.cc StagedPlan): the release is never started here.
const PLAN = `plan: approvals-e2e
waves:
  - {name: canary, devices: 1%, stratify: [os, agent_version], min_per_stratum: 2, dispatch: 2s, bake: 10s}
  - {name: all, devices: 100%, dispatch: 2s, bake: 2s}
gate: {alpha: 0.01, signals: [silence, crash, error], silence_after: 3s, confirm_after: 3s, holdback: 1%}
on_failure: rollback
`;

runTest('approvals', async ({ dir, paths, fleet, browser, watch }) => {
  await fleet.startServer({ reviewed: true, consumers: [`${paths.sensorBin} --integration correct`] });
  await fleet.provision({ approvals: 1 });
  const cf291 = readFileSync(join(SRC, 'samples/content/cf291.bundle.yaml'), 'utf8');
  const good = cf291.replace(/peer_pipe_regex: "[^"]*"/g, 'peer_pipe_regex: "*"').replace(/version: 1291/, 'version: 1290');
  const sha = await fleet.upload('good', good);
  const id = (await fleet.api('POST', '/v1/releases', fleet.author, { bundle_sha256: sha, plan_yaml: PLAN })).release_id;
  const rel = await fleet.api('GET', `/v1/releases/${id}`, fleet.operator);
  const l1 = JSON.parse(rel.reports.layer1);
  const l2 = JSON.parse(rel.reports.layer2);
  check(l1.verdict === 'accept' && l1.findings.some((f) => f.check === 'consumer.none') && l2.accepted === true,
    `the server ran layer 1 (verdict ${l1.verdict}, ${l1.warnings} warnings) and layer 2 (accepted ${l2.accepted}) on upload`);
  const digest = createHash('sha256').update(rel.reports.layer1 + rel.reports.layer2).digest('hex');

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1600 } });
  const page = await ctx.newPage();
  watch(page);
  page.on('pageerror', (e) => console.log('page error: ' + e));
  await signIn(page, fleet.url, fleet.operator);
  await page.goto(fleet.url + '/ui/#/release/' + id);
  await page.waitForSelector('[data-test=phase]:text("AwaitingApproval")', { timeout: 30000 });
  await page.waitForSelector('[data-test=report-layer1] [data-test=findings]');
  check((await page.$$('[data-test=approvals] tbody tr')).length === 0, 'before the review: no approval shown');

  // The reviewer reads the reports and signs with his own key (the CLI recomputes the digest).
  const tokenFile = join(dir, 'bob.token');
  writeFileSync(tokenFile, fleet.reviewer);
  const out = fleet.rf('--server', fleet.url, '--token', tokenFile, 'release', 'approve', id, '--key', fleet.reviewerKey);
  console.log('  ' + out.trim().split('\n').join('\n  '));
  const approved = await fleet.api('GET', `/v1/releases/${id}`, fleet.operator);
  check(approved.approvals.length === 1 && approved.approvals[0].reviewer === 'bob' && approved.phase === 'Ready',
    `the reviewer's approval counts: ${approved.approvals_counted} of ${approved.approvals_required}, now ${approved.phase}`);

  // The page follows without reloading (the approval is an audited change).
  await waitText(page, '[data-test=phase]', /^Ready$/, 30000);
  await page.waitForSelector('[data-test=approvals] tbody tr', { timeout: 30000 });
  const row = await page.$$eval('[data-test=approvals] tbody tr td', (tds) => tds.map((t) => t.textContent));
  const a = approved.approvals[0];
  const when = new Date(a.created_us / 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  check(row[0] === 'bob' && row[1] === 'reviewer' && row[2] === when && row[3] === a.keyid.slice(0, 16),
    `the page shows who approved, as which role, when and with which key (${row.join(' | ')})`);
  check((await page.textContent('[data-test=approvals-summary]')).includes(`1 of 1 required approvals`) &&
    (await page.textContent('[data-test=approvals-summary]')).includes(digest.slice(0, 16)),
  `the page shows the approval counted and the reports it covers (digest ${digest.slice(0, 16)}, recomputed here)`);
  const findings = await page.$$eval('[data-test=report-layer1] [data-test=findings] tbody tr',
    (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
  check(findings.length === l1.findings.length &&
    findings.some((f) => f[0] === 'warning' && f[1] === 'consumer.none' && /no device in the fleet consumes/.test(f[4])),
  `the page shows the layer-1 findings the approval covered (${findings.map((f) => f[1]).join(', ')})`);
  check(/verdict accept: 0 errors, \d+ warnings/.test(await page.textContent('[data-test=report-layer1] [data-test=verdict]')),
    'the page shows layer 1\'s verdict');
  const consumers = await page.$$eval('[data-test=report-layer2] [data-test=consumers] tbody tr',
    (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
  check(consumers.length === l2.consumers.length && consumers.length >= 1 && consumers.every((c) => c[1] === 'yes'),
    `the page shows the layer-2 result the approval covered (${consumers.map((c) => c.join(' ')).join('; ')})`);
  check(/verdict accepted/.test(await page.textContent('[data-test=report-layer2] [data-test=verdict]')),
    'the page shows layer 2\'s verdict');
  await axeCheck(page, 'release with approvals');
  await ctx.close();
});
