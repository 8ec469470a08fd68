// The operator API from the browser: the bearer token the operator typed, kept in sessionStorage
// (this tab only, gone when it closes) and sent as `Authorization: Bearer`. No cookie is ever
// set, so a cross-site page cannot make the browser send an authenticated request (no CSRF).
const KEY = 'ringfence.token';

export function token() { return sessionStorage.getItem(KEY) || ''; }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// JSON in, JSON out; throws ApiError with the server's error code and message. `signal` (an
// AbortSignal, optional) cancels the request (the long-poll, when the page signs out).
export async function api(method, path, body, tok, signal) {
  const headers = { Authorization: 'Bearer ' + (tok === undefined ? token() : tok) };
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (signal) init.signal = signal;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  let j = null;
  try { j = await r.json(); } catch (e) { j = null; }
  if (!r.ok) {
    const err = (j && j.error) || {};
    throw new ApiError(r.status, err.code || 'http_' + r.status, err.message || r.statusText);
  }
  return j;
}
