// The `ringfence sim --compare --html` page: reads the comparison (JSON in a
// <script type="application/json" id="sim-data"> element, written by src/sim/sim_html.cc) and
// draws it (simview.js). Everything goes through textContent (dom.js).
import { h } from './dom.js';
import { renderComparison } from './simview.js';

const data = JSON.parse(document.getElementById('sim-data').textContent);
const root = document.getElementById('main');
root.appendChild(h('h1', {}, `Simulation: ${data.scenario}`));
root.appendChild(h('p', {}, `${data.devices} devices; plan ${data.plan}; ${data.runs} run(s) per policy from seed ${data.seed}. ` +
  'The table summarises every run; each chart draws the first run (seed as given): devices exposed (applied the release) ' +
  'and harmed over time since the release, on one time axis; a red line marks where the policy halted.'));
renderComparison(root, data);
