// A simulated comparison (sim_html.h CompareHtmlData's JSON): the policy table and, per policy,
// devices exposed and harmed over one logarithmic time axis with the halt marked. Used by the
// `sim --html` page (sim.js) and the release page's "What if this content were bad" (release.js).
import { lineChart } from './charts.js';
import { fmtNum, h, table } from './dom.js';

export function renderComparison(root, data, headingLevel) {
  const hn = headingLevel || 'h2';
  root.appendChild(table('Policies compared', data.columns, data.rows.map((r) => r.map(String)), { 'data-test': 'policy-table' }));
  // One time axis for every policy, logarithmic: a halt after a minute and a rollout over a week
  // are both readable. Time 0 (the release) is drawn at 1 s.
  const tmax = Math.max(...data.policies.map((p) => p.t_s[p.t_s.length - 1] || 1));
  for (const p of data.policies) {
    const box = h('div', { class: 'chart', 'data-test': 'sim-chart' });
    root.appendChild(h('section', {}, h(hn, {}, p.name), box));
    const t = p.t_s.map((x) => Math.max(1, x));
    const xs = t.concat(t[t.length - 1] < tmax ? [tmax] : []);
    const pad = (v) => v.concat(xs.length > v.length ? [v[v.length - 1]] : []);
    const marks = p.halt_s === null || p.halt_s === undefined ? [] : [{ x: Math.max(1, p.halt_s), label: `halt ${fmtNum(p.halt_s)} s` }];
    lineChart(box, xs, [{ label: 'exposed', values: pad(p.exposed) },
      { label: 'harmed', values: pad(p.harmed), color: '#cf222e' }],
    { relTime: true, logX: true, xlabel: 'seconds since the release (log scale)', ylabel: 'devices', marks, width: 900 });
  }
}
