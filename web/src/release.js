// One release: state and steering buttons, waves planned vs actual, devices over time, gate
// evidence against its threshold (log scale), canary coverage per stratum, decisions with their
// reasons, approvals with the layer-1 and layer-2 findings they were given, the audit entries.
// The skeleton is built once; each refresh updates the parts (charts get new data, tables are
// rebuilt), so an open confirmation dialog survives the refresh.
import { api, ApiError } from './api.js';
import { lineChart } from './charts.js';
import { clear, fmtNum, fmtTime, h, table } from './dom.js';
import { renderComparison } from './simview.js';

const FINISHED = ['Completed', 'Halted', 'RolledBack'];

// Which steering verbs the release's phase allows (the server decides, src/rollout/release.cc;
// this only hides buttons that would be refused). Rollback needs something dispatched (a wave
// started) and sends every device running the release back to its own last-known-good, so it
// does not depend on the channel having a previous completed release.
function verbsFor(r) {
  const v = [];
  if (['Dispatching', 'Baking'].includes(r.phase)) v.push('pause');
  if (r.phase === 'Paused') v.push('resume');
  if (!FINISHED.includes(r.phase) && r.started_s) v.push('halt');
  if (r.started_s && r.wave >= 0 && ['Dispatching', 'Baking', 'Paused', 'Halted', 'Completed'].includes(r.phase)) {
    v.push('rollback');
  }
  return v;
}

export function renderRelease(id, ctx) {
  const s = { built: false, samples: [], strata: [], lastUs: 0, charts: {}, dialogOpen: false };
  const path = '/v1/releases/' + encodeURIComponent(id);

  function build(root) {
    s.el = {
      head: h('div', { 'data-test': 'release-head' }),
      actions: h('div', { class: 'actions', 'data-test': 'actions' }),
      waves: h('div', {}),
      exposure: h('div', { class: 'chart', 'data-test': 'chart-exposure' }),
      evidence: h('div', { class: 'chart', 'data-test': 'chart-evidence' }),
      strata: h('div', {}),
      decisions: h('div', {}),
      approvals: h('div', {}),
      audit: h('div', {}),
      whatIf: h('div', { 'data-test': 'what-if' }),
    };
    root.appendChild(h('section', { 'aria-labelledby': 'rel-title' },
      h('h1', { id: 'rel-title' }, 'Release ', id), s.el.head, s.el.actions, s.el.whatIf,
      h('h2', {}, 'Waves'), s.el.waves,
      h('h2', {}, 'Devices over time'), s.el.exposure,
      h('h2', {}, 'Gate evidence'), s.el.evidence,
      h('h2', {}, 'Canary coverage per stratum'), s.el.strata,
      h('h2', {}, 'Decisions'), s.el.decisions,
      h('h2', {}, 'Approvals and findings'), s.el.approvals,
      h('h2', {}, 'Audit entries'), s.el.audit));
    s.built = true;
  }

  function head(r, p) {
    const pr = p.progress;
    clear(s.el.head).append(
      h('p', {}, 'State ', h('span', { class: 'phase phase-' + r.phase, 'data-test': 'phase' }, r.phase),
        r.wave >= 0 ? ` wave ${r.wave + 1} of ${r.waves.length} (${r.wave_name})` : '',
        r.operator_paused ? ' · paused by an operator' : '', r.gate_hold ? ' · gate hold' : ''),
      r.reason ? h('p', {}, 'Reason: ', h('span', { 'data-test': 'reason' }, r.reason)) : '',
      h('p', {}, `Channel ${r.channel} · ${r.content_type} v${r.version} · bundle ${r.bundle_sha256.slice(0, 16)}… · `,
        `author ${r.author} · plan ${r.plan.name} (on failure: ${r.plan.on_failure}) · started ${fmtTime(r.started_s)}`),
      pr ? h('p', { 'data-test': 'exposure' },
        `Exposed ${pr.exposed_devices} of ${pr.eligible_devices} eligible · applied ${pr.applied_devices} · harmed ${pr.harmed_devices} · gate ${pr.gate_state}: ${pr.gate_detail}`) : '');
  }

  function actions(r) {
    if (!ctx.canSteer || s.dialogOpen) {
      if (!ctx.canSteer) clear(s.el.actions);
      return;
    }
    const verbs = verbsFor(r);
    const key = verbs.join(',');
    if (s.verbs === key) return;
    s.verbs = key;
    clear(s.el.actions).append(...verbs.map((verb) => h('button', {
      type: 'button', class: verb === 'halt' || verb === 'rollback' ? 'danger' : '', 'data-test': 'btn-' + verb,
      onclick: () => confirmVerb(verb),
    }, verb[0].toUpperCase() + verb.slice(1))));
  }

  // Asks for confirmation (and a reason where the API takes one), then POSTs the same endpoint
  // the CLI uses, so the action is checked and audited the same way.
  function confirmVerb(verb) {
    const needsReason = verb !== 'resume';
    const reason = h('input', { type: 'text', id: 'reason', name: 'reason', required: needsReason });
    const err = h('p', { class: 'error', role: 'alert' });
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-title', 'data-test': 'confirm' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'dlg-title' }, `${verb[0].toUpperCase() + verb.slice(1)} release ${id}?`),
        needsReason ? [h('label', { for: 'reason' }, 'Reason (recorded in the audit log)'), reason] : '',
        err,
        h('div', { class: 'actions' },
          h('button', { type: 'submit', value: 'confirm', class: 'danger', 'data-test': 'confirm-yes' }, 'Confirm ' + verb),
          h('button', { type: 'submit', value: 'cancel', formnovalidate: true }, 'Cancel'))));
    document.body.appendChild(dlg);
    s.dialogOpen = true;
    dlg.addEventListener('close', async () => {
      s.dialogOpen = false;
      s.verbs = null;
      dlg.remove();
      if (dlg.returnValue !== 'confirm') return;
      try {
        await api('POST', `${path}/${verb}`, needsReason ? { reason: reason.value } : {});
        ctx.setStatus(`${verb}: done`);
      } catch (e) {
        ctx.setStatus(e instanceof ApiError ? `${verb} refused: ${e.code}: ${e.message}` : String(e), true);
      }
    });
    dlg.showModal();
  }

  function waves(r) {
    // Planned: cumulative dispatch + bake from the start; actual: the first sample in each wave.
    let t = 0;
    const firstSeen = new Map();
    for (const x of s.samples) if (!firstSeen.has(x.wave)) firstSeen.set(x.wave, x.t_us / 1e6);
    const rows = r.waves.map((w, i) => {
      const planned = t;
      t += w.dispatch_s + w.bake_s;
      const actual = firstSeen.has(i) && r.started_s ? Math.max(0, firstSeen.get(i) - r.started_s) : null;
      const last = s.samples.length ? s.samples[s.samples.length - 1] : null;
      const wp = last && last.waves ? last.waves[i] : null;
      return [String(i + 1), w.name, `${w.dispatch_s} s + ${w.bake_s} s`, `+${planned} s`,
        actual === null ? (i <= r.wave ? 'before history' : '-') : `+${Math.round(actual)} s`,
        wp ? `${wp.exposed} / ${wp.target}` : '-',
        i < r.wave ? 'done' : i === r.wave ? (FINISHED.includes(r.phase) ? r.phase : 'current') : 'pending'];
    });
    clear(s.el.waves).appendChild(table('Planned (dispatch + bake) and actual wave starts, from the release start',
      ['#', 'Wave', 'Dispatch + bake', 'Planned start', 'Actual start', 'Exposed / target', 'Status'], rows,
      { 'data-test': 'waves' }));
  }

  function haltMarks(r) {
    if (!['Halted', 'RolledBack'].includes(r.phase)) return [];
    const x = s.samples.find((v) => v.phase === r.phase);
    return x ? [{ x: x.t_us / 1e6, label: r.phase }] : [];
  }

  function charts(r) {
    if (!s.samples.length) {
      clear(s.el.exposure).appendChild(h('p', { class: 'muted' }, 'No samples yet (the server samples started releases every second).'));
      clear(s.el.evidence);
      return;
    }
    const xs = s.samples.map((v) => v.t_us / 1e6);
    const col = (k) => s.samples.map((v) => v[k]);
    const marks = haltMarks(r);
    const expo = [{ label: 'offered', values: col('exposed') }, { label: 'applied', values: col('applied') },
      { label: 'harmed', values: col('harmed'), color: '#cf222e' }, { label: 'eligible', values: col('eligible'), dash: [4, 4] }];
    const names = [...new Set(s.samples.flatMap((v) => (v.metrics || []).map((m) => m.metric)))];
    const ev = names.map((n) => ({ label: `e-value ${n}`, values: s.samples.map((v) => {
      const m = (v.metrics || []).find((q) => q.metric === n);
      return m ? Math.max(m.e_value, 1e-3) : null;
    }) }));
    ev.push({ label: 'max e-value', values: s.samples.map((v) => Math.max(v.max_e, 1e-3)), dash: [2, 2] });
    const thr = s.samples[s.samples.length - 1].threshold;
    const key = marks.map((m) => m.label).join() + '|' + names.join() + '|' + (thr > 0);
    if (s.chartKey !== key) {
      s.chartKey = key;
      clear(s.el.exposure);
      clear(s.el.evidence);
      s.charts.exposure = lineChart(s.el.exposure, xs, expo, { ylabel: 'devices', marks });
      s.charts.evidence = lineChart(s.el.evidence, xs, ev, { ylabel: 'e-value (log)', log: true, threshold: thr, marks });
    } else {
      s.charts.exposure.setData([xs, ...expo.map((x) => x.values)]);
      s.charts.evidence.setData([xs, ...ev.map((x) => x.values), ...(thr > 0 ? [xs.map(() => thr)] : [])]);
    }
  }

  // The canary's floor per stratum (the plan's min_per_stratum in force): met, not yet, or out
  // of reach because the stratum has fewer eligible devices than the floor (docs/dashboard.md).
  function floorCell(x) {
    if (x.key === '(no stratum)') {
      return h('span', { class: 'bad' }, 'not covered: no stratum of this release (joined after its cohorts were built)');
    }
    if (x.devices === 0) return h('span', { class: 'bad' }, 'empty');
    if (x.floor_met === undefined) return x.cutoff > 0 ? h('span', { class: 'ok' }, 'covered') : 'not yet';
    if (!x.floor) return x.treated > 0 ? h('span', { class: 'ok' }, 'covered (no floor)') : 'not yet';
    if (!x.floor_coverable) {
      return h('span', { class: 'bad', 'data-test': 'floor-uncoverable' },
        `no canary can cover it: ${x.eligible} eligible, floor ${x.floor}`);
    }
    return x.floor_met ? h('span', { class: 'ok', 'data-test': 'floor-met' }, `floor met (${x.treated} ≥ ${x.floor})`)
      : h('span', { class: 'warn', 'data-test': 'floor-not-met' }, `floor not met yet (${x.treated} of ${x.floor})`);
  }

  function strata() {
    if (!s.strata.length) {
      clear(s.el.strata).appendChild(h('p', { class: 'muted' }, 'No dispatch data (the release is not live on this server).'));
      return;
    }
    const rows = s.strata.map((x) => [x.key || '(all devices)', String(x.devices),
      x.treated === undefined ? '-' : String(x.treated),
      h('progress', { max: 1, value: x.cutoff, 'aria-label': `share of ${x.key || 'all devices'} offered` }),
      `${(x.cutoff * 100).toFixed(1)} %`, floorCell(x)]);
    clear(s.el.strata).appendChild(table('Canary coverage per stratum: devices offered the release now against the plan\'s floor (min_per_stratum)',
      ['Stratum', 'Devices', 'Offered', 'Coverage', 'Share', 'Floor'], rows, { 'data-test': 'strata' }));
  }

  // A layer's report as the approvals cover it (the exact text; docs/protocol.md "Approval").
  function reportBody(text) {
    if (!text) return [h('p', { class: 'muted' }, 'no report (the layer did not run on this server)')];
    let o;
    try { o = JSON.parse(text); } catch (e) { return [h('pre', {}, text)]; }
    if (o.verdict === 'skipped') return [h('p', { class: 'warn', 'data-test': 'verdict' }, `skipped: ${o.reason || ''}`)];
    if (Array.isArray(o.findings)) {
      return [h('p', { 'data-test': 'verdict' },
        `verdict ${o.verdict}: ${o.errors} errors, ${o.warnings} warnings (${o.items} items, ${o.payload_bytes} bytes)`),
      table(`${o.findings.length} findings`, ['Severity', 'Check', 'Item', 'Field', 'Message'],
        o.findings.map((f) => [f.severity, f.check, f.item || '-', f.field || '-', f.message]), { 'data-test': 'findings' })];
    }
    if (Array.isArray(o.consumers)) {
      return [h('p', { 'data-test': 'verdict' }, `verdict ${o.accepted ? 'accepted' : 'refused'}`),
        table(`${o.consumers.length} consumer builds run on the bundle`, ['Consumer', 'Passed', 'Failing items'],
          o.consumers.map((c) => [c.name, c.passed ? 'yes' : 'no', (c.failing_items || []).join(', ') || '-']),
          { 'data-test': 'consumers' })];
    }
    return [h('pre', {}, JSON.stringify(o, null, 2))];
  }

  function findingsOf(layer, text) {
    return h('div', { 'data-test': 'report-' + layer }, reportBody(text));
  }

  function approvals(r) {
    const rows = r.approvals.map((a) => [a.reviewer, a.role, fmtTime(a.created_us / 1e6), a.keyid.slice(0, 16)]);
    clear(s.el.approvals).append(
      h('p', { 'data-test': 'approvals-summary' }, `${r.approvals_counted} of ${r.approvals_required} required approvals (roles: ${r.approver_roles.join(', ') || '-'}); they cover reports ${r.reports_sha256.slice(0, 16)}…`),
      table('Approvals', ['Reviewer', 'Role', 'When', 'Key'], rows, { 'data-test': 'approvals' }),
      h('h3', {}, 'Layer 1 (static checks)'), findingsOf('layer1', r.reports && r.reports.layer1),
      h('h3', {}, 'Layer 2 (dynamic checks)'), findingsOf('layer2', r.reports && r.reports.layer2));
  }

  function audit(entries) {
    const mine = entries.filter((e) => e.subject === id);
    // Decisions: every state change (from -> to) with its reason, or the notes the driver wrote.
    const decisions = mine.filter((e) => e.details && typeof e.details === 'object' && 'to' in e.details);
    const why = (d) => d.reason || (Array.isArray(d.notes) ? d.notes.join('; ') : '') || d.note || '-';
    clear(s.el.decisions).appendChild(decisions.length
      ? table('State changes and their reasons', ['Time', 'By', 'Action', 'From → to', 'Reason'],
        decisions.map((e) => [fmtTime(e.time_us / 1e6), e.actor, e.action,
          `${e.details.from} → ${e.details.to}`, why(e.details)]), { 'data-test': 'decisions' })
      : h('p', { class: 'muted' }, 'No decisions yet.'));
    clear(s.el.audit).appendChild(table(`${mine.length} audit entries about this release`,
      ['#', 'Time', 'Actor', 'Action', 'Details'],
      mine.map((e) => [String(e.seq), fmtTime(e.time_us / 1e6), e.actor, e.action, h('code', {}, e.details_json)])));
  }

  // Before the start: the plan on the live fleet as if the content harmed every device that
  // applies it (GET .../what-if, the simulator with the real rollout core). Fetched once.
  async function whatIf(r) {
    if (s.whatIfDone || !['AwaitingApproval', 'Ready'].includes(r.phase)) return;
    s.whatIfDone = true;
    const box = s.el.whatIf;
    box.appendChild(h('h2', {}, 'What if this content were bad'));
    box.appendChild(h('p', {}, 'This release\'s plan simulated on the fleet as it reports itself now, as if the content ' +
      'crashed every device that applies it, next to shipping it to everyone at once.'));
    try {
      renderComparison(box, await api('GET', path + '/what-if'), 'h3');
    } catch (e) {
      box.appendChild(h('p', { class: 'error' }, e instanceof ApiError ? `${e.code}: ${e.message}` : String(e)));
    }
  }

  return async function refresh(root) {
    if (!s.built) build(root);
    const [r, p, hist, entries] = await Promise.all([
      api('GET', path), api('GET', path + '/progress'),
      api('GET', `${path}/history?after_us=${s.lastUs}`), ctx.readAuditTail(0)]);
    s.samples.push(...hist.samples);
    if (s.samples.length > 7200) s.samples.splice(0, s.samples.length - 7200);
    if (hist.samples.length) s.lastUs = hist.samples[hist.samples.length - 1].t_us;
    s.strata = hist.strata;
    head(r, p);
    actions(r);
    waves(r);
    charts(r);
    strata();
    approvals(r);
    audit(entries);
    await whatIf(r);
  };
}

