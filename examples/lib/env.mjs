// Shared helpers for the examples: environment, a fetch shim for the
// documentation's relative URLs, and small assertions. Node 20 built-ins only.
//
//   AIPROXY_URL  base URL of the proxy, e.g. http://127.0.0.1:8080
//   AIPROXY_ORG  the organization key (slug)
//   AIPROXY_KEY  an API key of that organization
//   AIPROXY_OPERATOR_KEY  an operator key (shared-account.mjs only; loadOperatorEnv)
//
// Optional: POLL_INTERVAL_MS (default 1000), REQUEST_TIMEOUT_MS (default 120000).

import { pathToFileURL } from 'node:url';

export const PREFIX = '/api/ai-proxy';

/** Print a message to stderr and exit non-zero. */
export function die(message, code = 1) {
  console.error(`\nFAILED: ${message}`);
  process.exit(code);
}

/** Throw unless cond holds. */
export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}

function positiveInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) die(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * The proxy's base URL from AIPROXY_URL (exits on error): scheme + host (+ an optional
 * mount path), without a trailing slash or a trailing /api/ai-proxy.
 */
export function baseUrlFromEnv() {
  let url;
  try {
    url = new URL(process.env.AIPROXY_URL);
  } catch {
    die(`AIPROXY_URL is not a valid URL: ${JSON.stringify(process.env.AIPROXY_URL)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    die(`AIPROXY_URL must be an http:// or https:// URL, got ${url.protocol}`);
  }
  if (url.search || url.hash) die('AIPROXY_URL must not contain a query string or fragment');
  // The base is the scheme + host (+ an optional mount path); drop a trailing
  // slash and, for convenience, a trailing /api/ai-proxy that the paths add again.
  let baseUrl = url.origin + url.pathname.replace(/\/+$/, '');
  if (baseUrl.endsWith(PREFIX)) baseUrl = baseUrl.slice(0, -PREFIX.length);
  return baseUrl;
}

/** Read and validate AIPROXY_URL, AIPROXY_ORG and AIPROXY_KEY (exits on error). */
export function loadEnv() {
  const missing = ['AIPROXY_URL', 'AIPROXY_ORG', 'AIPROXY_KEY'].filter((n) => !process.env[n]);
  if (missing.length) {
    die(`missing environment variable(s): ${missing.join(', ')}\n` +
      'Start the demo server (go run ./cmd/aiproxy demo) and copy the AIPROXY_* lines it prints\n' +
      'into your shell, e.g.\n' +
      '  export AIPROXY_URL=http://127.0.0.1:8080 AIPROXY_ORG=demo AIPROXY_KEY=...');
  }
  const baseUrl = baseUrlFromEnv();

  const org = process.env.AIPROXY_ORG.trim();
  if (!/^[A-Za-z0-9._~-]+$/.test(org)) die(`AIPROXY_ORG must be an org slug, got ${JSON.stringify(org)}`);
  const apiKey = process.env.AIPROXY_KEY.trim();
  if (/\s/.test(apiKey)) die('AIPROXY_KEY must not contain whitespace');

  return {
    baseUrl,
    org,
    apiKey,
    pollIntervalMs: positiveInt('POLL_INTERVAL_MS', 1000),
    requestTimeoutMs: positiveInt('REQUEST_TIMEOUT_MS', 120000),
  };
}

/**
 * Read and validate AIPROXY_URL and AIPROXY_OPERATOR_KEY (an operator key: platform-wide
 * powers, e.g. `aiproxy key create --operator`, or the demo's); exits on error.
 */
export function loadOperatorEnv() {
  const missing = ['AIPROXY_URL', 'AIPROXY_OPERATOR_KEY'].filter((n) => !process.env[n]);
  if (missing.length) {
    die(`missing environment variable(s): ${missing.join(', ')}\n` +
      'This example acts as the platform operator: it needs an operator key in AIPROXY_OPERATOR_KEY.\n' +
      'The demo server (go run ./cmd/aiproxy demo) prints one (AIPROXY_OPERATOR_KEY=...) with the\n' +
      'other AIPROXY_* lines; elsewhere make one with: aiproxy key create --operator');
  }
  const baseUrl = baseUrlFromEnv();
  const operatorKey = process.env.AIPROXY_OPERATOR_KEY.trim();
  if (/\s/.test(operatorKey)) die('AIPROXY_OPERATOR_KEY must not contain whitespace');
  return {
    baseUrl,
    operatorKey,
    pollIntervalMs: positiveInt('POLL_INTERVAL_MS', 1000),
    requestTimeoutMs: positiveInt('REQUEST_TIMEOUT_MS', 120000),
  };
}

let shimInstalled = false;
/** The last non-2xx answer seen by the shim, to explain failures of code that does not check it. */
let lastHttpError = null;

/**
 * Wrap globalThis.fetch so that the documentation's relative URLs
 * ("/api/ai-proxy/orgs/...") resolve against baseUrl, as they would in a
 * browser page served by the proxy's host. Absolute URLs pass through.
 * Every request gets a timeout unless it has its own signal, and every non-2xx
 * answer is reported on stderr with the proxy's `detail || error`, because the
 * documentation's functions do not check response.ok themselves.
 */
export function installFetchShim({ baseUrl, requestTimeoutMs = 120000, verbose = !!process.env.VERBOSE }) {
  if (shimInstalled) return;
  shimInstalled = true;
  const realFetch = globalThis.fetch;
  if (typeof realFetch !== 'function') die('global fetch is not available: use Node 20 or newer');

  globalThis.fetch = async function shimmedFetch(input, init = {}) {
    if (typeof input === 'string' && input.startsWith('/') && !input.startsWith('//')) {
      input = baseUrl + input;
    }
    if (!init.signal && requestTimeoutMs > 0) {
      init = { ...init, signal: AbortSignal.timeout(requestTimeoutMs) };
    }
    const method = (init.method || (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const where = input instanceof Request ? input.url : String(input);
    if (verbose) console.error(`[fetch] ${method} ${where}`);
    let response;
    try {
      response = await realFetch(input, init);
    } catch (err) {
      const why = err?.cause?.code || err?.cause?.message || err?.message || String(err);
      throw new Error(`${method} ${where}: network error (${why})`, { cause: err });
    }
    if (!response.ok) {
      const text = await response.clone().text().catch(() => '');
      lastHttpError = `${method} ${where} -> HTTP ${response.status}: ${describeErrorBody(text)}`;
      console.error(`[fetch] ${lastHttpError}`);
    }
    return response;
  };
}

/** The proxy's error sentence from a body text: `detail || error`, else the text. */
export function describeErrorBody(text) {
  try {
    const j = JSON.parse(text);
    const msg = j?.detail ?? j?.error;
    if (msg !== undefined) {
      let out = typeof msg === 'string' ? msg : JSON.stringify(msg);
      if (j.upstream_status !== undefined) out += ` (upstream_status ${j.upstream_status})`;
      return out;
    }
  } catch { /* not JSON */ }
  return text.length > 300 ? text.slice(0, 300) + '…' : text || '(empty body)';
}

/** An HTTP error from the proxy, with the parsed body when it was JSON. */
export class ProxyError extends Error {
  constructor(status, text, what) {
    super(`${what}: HTTP ${status}: ${describeErrorBody(text)}`);
    this.name = 'ProxyError';
    this.status = status;
    this.text = text;
    try { this.body = JSON.parse(text); } catch { this.body = undefined; }
  }
}

export function authHeaders(apiKey) {
  return { Authorization: `Api-Key ${apiKey}` };
}

/** GET a discovery route, returning parsed JSON or throwing ProxyError. */
export async function getJSON(env, path) {
  const url = `${env.baseUrl}${PREFIX}/orgs/${encodeURIComponent(env.org)}${path}`;
  const res = await fetch(url, { headers: { ...authHeaders(env.apiKey), Accept: 'application/json' } });
  const text = await res.text();
  if (!res.ok) throw new ProxyError(res.status, text, `GET ${url}`);
  try { return JSON.parse(text); } catch { throw new Error(`GET ${url}: response is not JSON: ${text.slice(0, 200)}`); }
}

/**
 * POST an invoke envelope. Returns the Response (already checked for 2xx)
 * so that callers can read JSON, bytes or a stream.
 */
export async function invokeRaw(env, service, action, envelope = {}) {
  const url = `${env.baseUrl}${PREFIX}/orgs/${encodeURIComponent(env.org)}/services/${service}/${action}/`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...authHeaders(env.apiKey), 'Content-Type': 'application/json' },
    body: JSON.stringify(envelope),
  });
  if (!res.ok) throw new ProxyError(res.status, await res.text(), `${service}/${action}`);
  return res;
}

/** POST an invoke envelope and parse the JSON answer. */
export async function invokeJSON(env, service, action, envelope = {}) {
  const res = await invokeRaw(env, service, action, envelope);
  const text = await res.text();
  try { return JSON.parse(text); } catch { throw new Error(`${service}/${action}: response is not JSON: ${text.slice(0, 200)}`); }
}

/** Download a URL and check it is an MP4 (an `ftyp` box at bytes 4..8). Returns its bytes. */
export async function downloadMp4(videoUrl) {
  assert(typeof videoUrl === 'string' && videoUrl.length > 0, `video URL is a non-empty string (got ${JSON.stringify(videoUrl)})`);
  const res = await fetch(videoUrl);
  if (!res.ok) throw new ProxyError(res.status, await res.text(), `download ${videoUrl}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  assert(bytes.length >= 8, `video has at least 8 bytes (got ${bytes.length})`);
  const box = Buffer.from(bytes.subarray(4, 8)).toString('latin1');
  assert(box === 'ftyp', `video starts with an MP4 ftyp box (bytes 4..8 are ${JSON.stringify(box)})`);
  return { bytes, contentType: res.headers.get('content-type') || '' };
}

/** True when the bytes start like an MP3: "ID3" or an MPEG frame sync. */
export function looksLikeMp3(bytes) {
  if (bytes.length >= 3 && bytes[0] === 0x49 && bytes[1] === 0x44 && bytes[2] === 0x33) return true; // "ID3"
  return bytes.length >= 2 && bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0;
}

export function hex(bytes, n = 8) {
  return Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Run main() when this file is the program; print the error and exit 1 on failure. */
export function runMain(importMetaUrl, main) {
  if (!process.argv[1] || pathToFileURL(process.argv[1]).href !== importMetaUrl) return;
  main().then(
    () => process.exit(0),
    (err) => {
      let msg = err?.stack && process.env.VERBOSE ? err.stack : (err?.message || String(err));
      if (lastHttpError && !(err instanceof ProxyError)) msg += `\n  (last error answer from the server: ${lastHttpError})`;
      die(msg);
    },
  );
}

export function step(n, text) {
  console.log(`\n== ${n}. ${text}`);
}
