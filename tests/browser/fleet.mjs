// A real ringfence server and real ringfence-agent processes for the browser tests
// (tests/browser/dashboard.e2e.mjs): the same set-up as `ringfence demo` (src/demo/demo.cc), driven
// through the operator API: an author with a publisher key, an operator, a viewer, the ipc_rule
// content type, a policy, agents on the example sensor (legacy integration crashes on CF291) that
// are "rebooted" when their consumer crash takes the host down (exit 86).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { join } from 'node:path';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, timeoutMs, fn) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await sleep(200);
  }
}

export class Fleet {
  constructor({ bin, agentBin, sensorBin, samples, dir }) {
    Object.assign(this, { bin, agentBin, sensorBin, samples, dir });
    this.hosts = [];
    this.stopping = false;
    this.children = new Set();
  }

  // Default: layer 1 off so that Channel File 291 reaches the gate (as `ringfence demo --layers
  // 4`) and no reviews (layer 3 off): the dashboard's subject is the rollout. `reviewed`: layers
  // 1 and 3 on, and layer 2 on upload with `consumers` (commands of consumer builds).
  async startServer({ reviewed = false, consumers = [] } = {}) {
    const data = join(this.dir, 'server');
    mkdirSync(data, { recursive: true });
    const args = ['server', '--data', data, '--listen', '127.0.0.1:0', '--poll-after', '1', '--tick-ms', '250',
      '--flush-ms', '1000', '--threads', '2', '--enroll-rate', '1000', '--enroll-burst', '100000'];
    if (!reviewed) args.push('--allow-unreviewed', '--skip-layer1');
    for (const c of consumers) args.push('--consumer', c);
    // Sanitized consumer builds (RF_SANITIZED, tests/CMakeLists.txt): no address-space limit.
    if (consumers.length && process.env.RF_SANITIZED === '1') args.push('--layer2-memory-mb', '0');
    const log = join(this.dir, 'server.log');
    this.server = this.spawn(this.bin, args, log, true);
    const line = await new Promise((resolve, reject) => {
      let buf = '';
      const t = setTimeout(() => reject(new Error('ringfence server did not print its address in 60 s; see ' + log)), 60000);
      this.server.stdout.on('data', (d) => {
        buf += d;
        const m = /listening on (\S+)/.exec(buf);
        if (m) { clearTimeout(t); resolve(m[1]); }
      });
      this.server.on('exit', (c) => reject(new Error('ringfence server exited ' + c + '; see ' + log)));
    });
    this.url = 'http://' + line;
    this.admin = readFileSync(join(data, 'admin.token'), 'utf8').trim();
    this.agentToken = join(data, 'agent.token');
  }

  spawn(cmd, args, logPath, captureStdout) {
    const out = captureStdout ? 'pipe' : 'ignore';
    const fd = openLog(logPath);
    const child = spawn(cmd, args, { stdio: ['ignore', out, fd] });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  async api(method, path, token, body) {
    const r = await fetch(this.url + path, {
      method, headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const j = await r.json().catch(() => null);
    if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(j)}`);
    return j;
  }

  rf(...args) {
    const r = spawnSync(this.bin, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ringfence ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
  }

  // Principals alice (author), olivia (operator), victor (reviewer, no key); with `approvals` > 0
  // also bob (reviewer) with a signing key of his own (this.reviewerKey), whose approvals count.
  async provision({ approvals = 0 } = {}) {
    this.rf('key', 'gen', '-o', join(this.dir, 'author'));
    this.authorPub = readFileSync(join(this.dir, 'author.pub'), 'utf8');
    const mk = async (name, roles, extra) =>
      (await this.api('POST', '/v1/principals', this.admin, { name, roles, ...extra })).token;
    this.author = await mk('alice', ['author']);
    this.operator = await mk('olivia', ['operator']);
    this.viewer = await mk('victor', ['reviewer']);
    if (approvals > 0) {
      this.rf('key', 'gen', '-o', join(this.dir, 'bob'));
      this.reviewerKey = join(this.dir, 'bob.key');
      this.reviewer = await mk('bob', ['reviewer'],
        { reviewer_public_key: readFileSync(join(this.dir, 'bob.pub'), 'utf8') });
    }
    await this.api('PUT', '/v1/policies/291', this.admin,
      { approvals, roles: ['reviewer'], publisher_keys: [this.authorPub], publisher_threshold: 1 });
    this.typePath = join(this.samples, 'ipc_rule.type.yaml');
    await this.api('POST', '/v1/content-types', this.admin, { yaml: readFileSync(this.typePath, 'utf8') });
    const trust = await this.api('GET', '/v1/trust', readFileSync(this.agentToken, 'utf8').trim());
    const root = {
      format: 1,
      publishers: { keys: [JSON.parse(this.authorPub)], threshold: 1 },
      reviewers: { keys: [], threshold: 0 },
      release: { keys: trust.release_keys.map((k) => JSON.parse(k)) },
    };
    this.trustPath = join(this.dir, 'trust.json');
    writeFileSync(this.trustPath, JSON.stringify(root));
  }

  // strata: [{os, agent_version, integration, n, extraAttrs: {k: v}}]
  startHosts(strata) {
    let i = 0;
    for (const s of strata) {
      for (let k = 0; k < s.n; ++k, ++i) {
        const id = `d-${String(i).padStart(3, '0')}`;
        const h = { id, stratum: s, state: join(this.dir, 'hosts', id), log: join(this.dir, 'hosts', id + '.log') };
        mkdirSync(h.state, { recursive: true });
        this.hosts.push(h);
        this.boot(h);
      }
    }
  }

  boot(h) {
    const s = h.stratum;
    const args = ['--server', this.url, '--token', this.agentToken, '--state', h.state, '--trust', this.trustPath,
      '--device-id', h.id, '--attr', 'os=' + s.os, '--attr', 'agent_version=' + s.agent_version,
      '--consumer', `${this.sensorBin} --integration ${s.integration}`,
      '--consumer-run-args', 'load {bundle}', '--consumer-oneshot', '--host-crash-on-consumer-crash',
      '--poll-min', '1', '--poll-max', '2', '--poll-default', '1', '--backoff-base-ms', '500',
      '--backoff-max-ms', '2000',
      // Layer 5's pre-flight off (its crash-loop guard on), as `ringfence demo --layers 4`: the
      // legacy hosts crash on Channel File 291 and the gate (layer 4) is what stops it.
      '--no-preflight', '--max-unclean-starts', '3'];
    // Sanitized binaries (tests/CMakeLists.txt sets RF_SANITIZED): ASan's shadow memory cannot live
    // under the address-space limit the agent puts on the consumer's manifest command.
    if (process.env.RF_SANITIZED === '1') args.push('--preflight-mem-mb', '0');
    for (const [k, v] of Object.entries(s.extraAttrs || {})) args.push('--attr', `${k}=${v}`);
    h.proc = this.spawn(this.agentBin, args, h.log, false);
    h.proc.on('exit', () => {
      // A host whose consumer crash took it down comes back after a second (as the demo's hosts).
      if (!this.stopping) setTimeout(() => { if (!this.stopping) this.boot(h); }, 1000);
    });
  }

  // The version each host has installed on channel 291 (null if none), from its state.json.
  installed() {
    return this.hosts.map((h) => {
      try {
        const st = JSON.parse(readFileSync(join(h.state, 'state.json'), 'utf8'));
        const c = st.channels && st.channels['291'];
        return c && c.current ? c.current.version : null;
      } catch (e) { return null; }
    });
  }

  // How many hosts quarantined `version` on channel 291 and have reported it (it is in their
  // state.json's quarantined list and no longer in the pending report), and their reasons.
  quarantinedReported(version) {
    const reasons = [];
    for (const h of this.hosts) {
      try {
        const st = JSON.parse(readFileSync(join(h.state, 'state.json'), 'utf8'));
        const is = (q) => q.channel === '291' && q.version === version;
        const q = (st.quarantined || []).find(is);
        const pending = ((st.pending && st.pending.quarantined) || []).some(is);
        if (q && !pending) reasons.push(q.reason || '');
      } catch (e) { /* being rewritten: counted at the next look */ }
    }
    return reasons;
  }

  // Builds and signs a bundle from YAML text as the author; uploads it; returns its sha256.
  async upload(name, yaml) {
    const src = join(this.dir, name + '.bundle.yaml');
    const out = join(this.dir, name + '.bundle');
    writeFileSync(src, yaml);
    this.rf('bundle', 'build', src, '--type', this.typePath, '--out', out, '--key', join(this.dir, 'author.key'));
    const r = await this.api('POST', '/v1/bundles', this.author, { envelope: readFileSync(out, 'utf8') });
    return r.sha256;
  }

  async release(sha, plan) {
    const r = await this.api('POST', '/v1/releases', this.author, { bundle_sha256: sha, plan_yaml: plan });
    await this.api('POST', `/v1/releases/${r.release_id}/start`, this.operator, {});
    return r.release_id;
  }

  async phase(id) {
    return (await this.api('GET', `/v1/releases/${id}/progress`, this.operator)).phase;
  }

  async stop() {
    this.stopping = true;
    for (const c of [...this.children]) c.kill('SIGTERM');
    await sleep(500);
    for (const c of [...this.children]) c.kill('SIGKILL');
  }
}

function openLog(path) {
  mkdirSync(dirname(path), { recursive: true });
  return openSync(path, 'a');
}
