// The `ringfence sim --compare --html` page: reads the comparison (JSON in a
// <script type="application/json" id="sim-data"> element, written by src/sim/sim_html.cc) and
// draws the policy table and, per policy, exposed and harmed devices over one time axis with the
// halt marked. Everything goes through textContent (dom.js).
import { lineChart } from './charts.js';
import { h, table, fmtNum } from './dom.js';

const data = JSON.parse(document.getElementById('sim-data').textContent);
const root = document.getElementById('main');
root.appendChild(h('h1', {}, `Simulation: ${data.scenario}`));
root.appendChild(h('p', {}, `${data.devices} devices; plan ${data.plan}; ${data.runs} run(s) per policy from seed ${data.seed}. ` +
  'The table summarises every run; each chart draws the first run (seed as given): devices exposed (applied the release) ' +
  'and harmed over time since the release, on one time axis; a red line marks where the policy halted.'));
root.appendChild(table('Policies compared', data.columns, data.rows.map((r) => r.map(String)), { 'data-test': 'policy-table' }));
// One time axis for every policy, logarithmic: a halt after a minute and a rollout over a week
// are both readable. Time 0 (the release) is drawn at 1 s.
const tmax = Math.max(...data.policies.map((p) => p.t_s[p.t_s.length - 1] || 1));
for (const p of data.policies) {
  const box = h('div', { class: 'chart', 'data-test': 'sim-chart' });
  root.appendChild(h('section', {}, h('h2', {}, p.name), box));
  const t = p.t_s.map((x) => Math.max(1, x));
  const xs = t.concat(t[t.length - 1] < tmax ? [tmax] : []);
  const pad = (v) => v.concat(xs.length > v.length ? [v[v.length - 1]] : []);
  const marks = p.halt_s === null || p.halt_s === undefined ? [] : [{ x: Math.max(1, p.halt_s), label: `halt ${fmtNum(p.halt_s)} s` }];
  lineChart(box, xs, [{ label: 'exposed', values: pad(p.exposed) },
    { label: 'harmed', values: pad(p.harmed), color: '#cf222e' }],
  { relTime: true, logX: true, xlabel: 'seconds since the release (log scale)', ylabel: 'devices', marks, width: 900 });
}
