// The ringfence operator dashboard (docs/dashboard.md): releases, one release, fleet, audit.
// Hash routes (#/releases, #/release/ID, #/fleet, #/audit). The current view is redrawn when the
// server says something changed (the long-poll GET /v1/changes, docs/dashboard.md "Live
// updates"), so a change shows within 2 s without reloading.
import { api, ApiError, clearToken, setToken, token } from './api.js';
import { clear, fmtNum, fmtTime, h, table } from './dom.js';
import { renderRelease } from './release.js';

// After a failed redraw or long-poll, the next try waits this long (a restarting server, a full
// long-poll pool: the page then polls at this rate until the long-poll answers again).
const RETRY_MS = 1000;
// The fleet page's data (device counts) changes with every enrollment and is not announced by
// the long-poll; it is re-read this often besides.
const FLEET_REFRESH_MS = 2000;
const main = document.getElementById('main');
const statusLine = document.getElementById('status');
// view: the current page's render function; root: its element; busy: a redraw is running;
// again: another was asked for meanwhile; timer: a redraw scheduled by setTimeout.
const state = { me: null, view: null, root: null, timer: 0, busy: false, again: false };
// The long-poll: the sequence number the page last saw and the request waiting for the next.
const live = { seq: null, abort: null, running: false };

function setStatus(text, isError) {
  statusLine.textContent = text;
  statusLine.className = isError ? 'status error' : 'status';
}

function canSteer() {
  return !!state.me && state.me.roles.some((r) => r === 'operator' || r === 'admin');
}

// ----- sign in -----
function showLogin(message) {
  document.getElementById('who').textContent = '';
  document.getElementById('signout').hidden = true;
  clear(main);
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true });
  const err = h('p', { class: 'error', role: 'alert' }, message || '');
  const form = h('form', { class: 'login', 'aria-label': 'Sign in' },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Paste your ringfence bearer token (the same file the CLI reads with --token). ',
      'It stays in this browser tab only.'),
    h('label', { for: 'token' }, 'Bearer token'), input,
    h('button', { type: 'submit' }, 'Sign in'), err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const me = await api('GET', '/v1/whoami', undefined, input.value.trim());
      setToken(input.value.trim());
      state.me = me;
      signedIn();
    } catch (e) {
      err.textContent = e instanceof ApiError ? `${e.code}: ${e.message}` : String(e);
    }
  });
  main.appendChild(form);
  input.focus();
}

function signedIn() {
  document.getElementById('who').textContent = `${state.me.name} (${state.me.roles.join(', ')})`;
  document.getElementById('signout').hidden = false;
  route();
  watchChanges();
}

// ----- views -----
async function releasesView(root) {
  const list = await api('GET', '/v1/releases');
  const rows = [];
  for (const r of list.releases) {
    let exposure = '-';
    if (r.started_s && !['Completed', 'Halted', 'RolledBack'].includes(r.phase)) {
      try {
        const p = await api('GET', `/v1/releases/${encodeURIComponent(r.release_id)}/progress`);
        if (p.progress) exposure = `${p.progress.exposed_devices} / ${p.progress.eligible_devices}`;
      } catch (e) { /* the list still shows */ }
    }
    const wave = r.wave >= 0 ? `${r.wave + 1}/${r.waves.length} ${r.wave_name}` : '-';
    rows.push([
      h('a', { href: '#/release/' + encodeURIComponent(r.release_id), 'data-test': 'release-link' }, r.release_id),
      r.channel, r.content_type, String(r.version),
      h('span', { class: 'phase phase-' + r.phase, 'data-test': 'phase' }, r.phase), wave, exposure,
      `${r.approvals_counted}/${r.approvals_required}`, fmtTime(r.created_s)]);
  }
  clear(root).appendChild(h('section', {},
    h('h1', {}, 'Releases'),
    rows.length ? table(`${rows.length} releases, newest first`,
      ['Release', 'Channel', 'Content type', 'Version', 'State', 'Wave', 'Exposed / eligible',
        'Approvals', 'Created'], rows, { 'data-test': 'releases' })
      : h('p', {}, 'No releases yet.')));
}

async function fleetView(root) {
  const [f, sum] = await Promise.all([api('GET', '/v1/fleet'), api('GET', '/v1/fleet/summary')]);
  const rows = f.strata.map((s) => [
    Object.entries(s.attrs).map(([k, v]) => h('div', {}, `${k}=${v}`)),
    Object.entries(s.capabilities).map(([t, c]) => h('div', {},
      `${t}: schema ${c.schema_versions.join(', ')}; inputs ${c.inputs}` +
      (c.max_items ? `; max items ${c.max_items}` : ''))),
    String(s.devices),
    s.devices < 2 ? h('span', { class: 'bad' }, 'too small for a canary') : h('span', { class: 'ok' }, 'ok'),
  ]);
  const versions = [];
  for (const c of sum.channels) {
    for (const v of c.versions) versions.push([c.channel, String(v.version), h('code', {}, v.sha256.slice(0, 16) + '…'), String(v.devices)]);
    versions.push([c.channel, 'none', '-', String(c.without)]);
  }
  // Quarantined versions: the devices that quarantined each (channel, version) and the most common
  // reason they gave (device text: shown as text, never as markup).
  const quarantined = sum.quarantined.map((q) => [q.channel, String(q.version),
    h('code', {}, q.sha256.slice(0, 16) + '…'), String(q.devices),
    h('span', {}, q.reason || '(no reason given)',
      q.reasons > 1 ? h('span', { class: 'muted' },
        ` (${q.reason_devices} of ${q.devices} devices; ${q.reasons - 1} other reason${q.reasons > 2 ? 's' : ''})`) : '')]);
  clear(root).appendChild(h('section', {},
    h('h1', {}, 'Fleet'),
    h('p', {}, `${f.devices} devices in ${f.strata.length} strata.`),
    h('p', { 'data-test': 'health' },
      `Health: ${sum.seen_recently} seen in the last ${sum.stale_after_s} s; `,
      h('span', { class: sum.stale ? 'bad' : 'ok' }, `${sum.stale} not seen for longer`), '.'),
    table('Strata (attributes and consumer capabilities as devices report them)',
      ['Attributes', 'Consumers', 'Devices', 'Canary'], rows, { 'data-test': 'strata' }),
    versions.length
      ? table('Installed versions per channel (as devices report them)', ['Channel', 'Version', 'SHA-256', 'Devices'],
        versions, { 'data-test': 'versions' })
      : h('p', { class: 'muted' }, 'No device reports an installed version yet.'),
    quarantined.length
      ? table('Quarantined versions (devices that reverted or refused them, and why)',
        ['Channel', 'Version', 'SHA-256', 'Devices', 'Reason'], quarantined, { 'data-test': 'quarantined' })
      : h('p', { class: 'muted', 'data-test': 'quarantined-none' }, 'No device has quarantined a version.')));
}

async function auditView(root) {
  const [v, page] = await Promise.all([api('GET', '/v1/audit/verify'), readAuditTail(200)]);
  const verdict = v.ok
    ? h('p', { class: 'ok', 'data-test': 'audit-verify' },
      `Chain verified: ${v.entries} entries, head #${v.head.seq} ${v.head.hash.slice(0, 16)}…`)
    : h('p', { class: 'bad', 'data-test': 'audit-verify' }, `Chain verification FAILED: ${v.error}`);
  const rows = page.slice().reverse().map((e) => [String(e.seq), fmtTime(e.time_us / 1e6), e.actor,
    e.action, e.subject, h('code', {}, e.details_json)]);
  clear(root).appendChild(h('section', {}, h('h1', {}, 'Audit'), verdict,
    table('Latest entries, newest first', ['#', 'Time', 'Actor', 'Action', 'Subject', 'Details'], rows)));
}

// The last `n` audit entries (pages of 1000 from the start; the chain is append-only).
const auditCache = { entries: [] };
export async function readAuditTail(n) {
  for (;;) {
    const after = auditCache.entries.length ? auditCache.entries[auditCache.entries.length - 1].seq : 0;
    const p = await api('GET', `/v1/audit?after=${after}&limit=1000`);
    auditCache.entries.push(...p.entries);
    if (p.entries.length < 1000) break;
  }
  return n ? auditCache.entries.slice(-n) : auditCache.entries;
}

// ----- routing and refresh -----
function route() {
  clearTimeout(state.timer);
  if (!token()) return showLogin();
  const hash = location.hash || '#/releases';
  for (const a of document.querySelectorAll('header nav a')) {
    if (hash.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // Each view draws into a container of its own: a redraw of the previous view still in flight
  // finishes into its detached container, not into the page the new view draws.
  const root = h('div', {});
  clear(main).appendChild(root);
  let view;
  if (hash.startsWith('#/release/')) {
    const id = decodeURIComponent(hash.slice('#/release/'.length));
    view = renderRelease(id, { canSteer: canSteer(), readAuditTail, setStatus });
  } else if (hash.startsWith('#/fleet')) {
    view = fleetView;
  } else if (hash.startsWith('#/audit')) {
    view = auditView;
  } else {
    view = releasesView;
  }
  state.view = view;
  state.root = root;
  redraw();
}

// Redraws the current view once; asked again while it runs, it runs once more afterwards (a
// slow server is never asked twice at once).
async function redraw() {
  if (state.busy) {
    state.again = true;
    return;
  }
  const view = state.view;
  if (!view) return;
  clearTimeout(state.timer);
  state.busy = true;
  let retry = 0;
  try {
    await view(state.root);
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
    if (view === fleetView) retry = FLEET_REFRESH_MS;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      state.busy = false;
      return signOut('Your token was refused; sign in again.');
    }
    setStatus(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e), true);
    retry = RETRY_MS;
  }
  state.busy = false;
  if (state.view !== view) return redraw();  // navigated meanwhile
  if (state.again) {
    state.again = false;
    return redraw();
  }
  if (retry) state.timer = setTimeout(redraw, retry);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The long-poll loop (docs/dashboard.md "Live updates"): GET /v1/changes?after=SEQ waits until
// the server's sequence number moves (or 25 s pass), then the view is redrawn. fetch carries the
// bearer token like every other request; an EventSource could not.
async function watchChanges() {
  if (live.running) return;
  live.running = true;
  while (token()) {
    live.abort = new AbortController();
    try {
      const q = live.seq === null ? '' : `?after=${live.seq}`;
      const c = await api('GET', '/v1/changes' + q, undefined, undefined, live.abort.signal);
      const first = live.seq === null;
      live.seq = c.seq;
      if (first || c.changed) redraw();  // first: a change between the first draw and now
    } catch (e) {
      if (live.abort.signal.aborted) {  // signed out (the loop ends) or out and in again
        live.seq = null;
        continue;
      }
      if (e instanceof ApiError && e.status === 401) {
        signOut('Your token was refused; sign in again.');
        break;
      }
      // Server restarting, or every long-poll slot taken: poll at RETRY_MS meanwhile.
      live.seq = null;
      await sleep(RETRY_MS);
      redraw();
    }
  }
  live.running = false;
  live.abort = null;
}

function signOut(message) {
  clearToken();
  if (live.abort) live.abort.abort();
  live.seq = null;
  clearTimeout(state.timer);
  state.me = null;
  state.view = null;
  showLogin(message);
}

document.getElementById('signout').addEventListener('click', () => signOut());
window.addEventListener('hashchange', route);

(async () => {
  if (!token()) return showLogin();
  try {
    state.me = await api('GET', '/v1/whoami');
    signedIn();
  } catch (e) {
    clearToken();
    showLogin();
  }
})();
export { fmtNum };
