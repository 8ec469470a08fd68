// DOM helpers. Every string from the server (content, findings, device attributes, reasons) goes
// into the page through textContent or setAttribute on a fixed list of attributes, never through
// innerHTML, so data cannot become markup or script (docs/dashboard.md "Safety").

const ALLOWED_ATTRS = new Set([
  'id', 'class', 'href', 'type', 'for', 'name', 'value', 'role', 'title', 'scope', 'colspan',
  'autocomplete', 'required', 'formnovalidate', 'method', 'hidden', 'max', 'min', 'data-test', 'aria-label', 'aria-live',
  'aria-describedby', 'aria-current', 'aria-modal', 'aria-labelledby', 'tabindex', 'disabled',
]);

// h('tr', {class: 'x'}, 'text', child, [more]) -> Element. Strings become text nodes.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) {
      el.addEventListener(k.slice(2), v);
      continue;
    }
    if (!ALLOWED_ATTRS.has(k)) throw new Error('attribute not allowed: ' + k);
    if (k === 'href' && !String(v).startsWith('#')) throw new Error('only in-app links');
    el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function table(caption, headers, rows, attrs) {
  return h('table', attrs || {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

export function fmtTime(seconds) {
  if (!seconds) return '-';
  return new Date(seconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function fmtNum(x) {
  if (x === undefined || x === null || Number.isNaN(x)) return '-';
  if (Math.abs(x) >= 1000 || Number.isInteger(x)) return String(Math.round(x));
  return x.toPrecision(3);
}
