// @aiproxy/client: a JavaScript client of the aiproxy gateway (docs/contract.md).
//
// One ES module, no dependencies, for Node 20+ and browsers. It does what the
// documentation's own client functions do (discover the services, find an action by its
// provider path_template + method, invoke it with a JSON or multipart envelope, read the
// answer as JSON, a Blob or text by its content type) and adds: a typed error
// (AiproxyError: status, detail, upstreamStatus, upstreamBody, retryAfter), streamed answers
// (ReadableStream), upload progress, AbortSignal support, waitForJob over the jobs API
// (GET …/jobs/{id}/?wait=N), and browser tokens (mint one on a backend, use it in a page).

/** The default route prefix of the gateway (`--prefix`). */
export const DEFAULT_PREFIX = '/api/ai-proxy';

/** Job states after which a job no longer changes (docs/jobs.md). */
export const TERMINAL_JOB_STATES = Object.freeze(['completed', 'failed']);

/**
 * An error answer of the gateway (any non-2xx status), with the contract's fields:
 * `detail || error` as `detail`, and for provider refusals (502/429, contract §8) the
 * provider's status and body.
 */
export class AiproxyError extends Error {
  /**
   * @param {string} message
   * @param {{status: number, body?: any, text?: string, headers?: Headers, method?: string, url?: string}} init
   */
  constructor(message, init) {
    super(message);
    this.name = 'AiproxyError';
    /** HTTP status of the gateway's answer. */
    this.status = init.status;
    const body = init.body && typeof init.body === 'object' ? init.body : undefined;
    /** The parsed JSON body, when it was JSON. */
    this.body = init.body;
    /** The body as text. */
    this.text = init.text ?? '';
    /** The gateway's sentence: `detail` (most errors) or `error` (a malformed request, 400). */
    this.detail = body ? (body.detail ?? body.error ?? null) : null;
    /** The provider's HTTP status when the provider refused the call (contract §8), else null. */
    this.upstreamStatus = body && typeof body.upstream_status === 'number' ? body.upstream_status : null;
    /** The provider's error body (parsed JSON or text), else undefined. */
    this.upstreamBody = body ? body.upstream_body : undefined;
    const headers = init.headers;
    /** Seconds to wait before retrying (the Retry-After header), else null. */
    this.retryAfter = headers ? parseRetryAfter(headers.get('retry-after')) : null;
    /** The request id the gateway answered with (X-Request-Id), else null. */
    this.requestId = headers ? headers.get('x-request-id') : null;
    this.method = init.method;
    this.url = init.url;
  }
}

/** Thrown by waitForJob when the job is not terminal within `timeoutMs`. */
export class JobTimeoutError extends Error {
  /** @param {string} message @param {any} job */
  constructor(message, job) {
    super(message);
    this.name = 'JobTimeoutError';
    this.job = job;
  }
}

/** Thrown by waitForJob (with `throwOnFailure: true`) when the job ends `failed`. */
export class JobFailedError extends Error {
  /** @param {string} message @param {any} job */
  constructor(message, job) {
    super(message);
    this.name = 'JobFailedError';
    this.job = job;
  }
}

/** Retry-After in seconds (delta-seconds or an HTTP date), or null. */
function parseRetryAfter(v) {
  if (v == null || v === '') return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const t = Date.parse(v);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

/** The `{name}` placeholders of a path template, in order. */
export function pathParamsOf(pathTemplate) {
  return [...String(pathTemplate).matchAll(/\{([^{}/]+)\}/g)].map((m) => m[1]);
}

/** A path template with its placeholder names dropped, so `/v1/x/{id}` equals `/v1/x/{voice_id}`. */
function templateShape(t) {
  return String(t).replace(/\{[^{}/]+\}/g, '{}').replace(/\/+$/, '');
}

function abortError(signal) {
  const r = signal?.reason;
  if (r && typeof r === 'object' && (r.name === 'AbortError' || r.name === 'TimeoutError')) return r;
  const err = new DOMException('The operation was aborted.', 'AbortError');
  if (signal && signal.reason !== undefined) err.cause = signal.reason;
  return err;
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    function onAbort() { clearTimeout(t); reject(abortError(signal)); }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Read a response by its content type: JSON (`application/json`, `…+json`) parsed (null
 * when empty), `text/*` as a string, anything else (audio, video, images) as a Blob.
 * @param {Response} res
 */
export async function readByContentType(res) {
  const ct = (res.headers.get('content-type') || '').toLowerCase();
  if (/^application\/([\w.+-]*\+)?json\b/.test(ct) || ct.startsWith('text/json')) {
    const text = await res.text();
    return text === '' ? null : JSON.parse(text);
  }
  if (ct.startsWith('text/')) return res.text();
  return res.blob();
}

/** Bytes of a Blob/ArrayBuffer/view/string as a Blob with a type. */
function toBlob(data, type) {
  if (typeof Blob !== 'undefined' && data instanceof Blob) {
    return type && !data.type ? new Blob([data], { type }) : data;
  }
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data) || typeof data === 'string') {
    return new Blob([data], { type: type || 'application/octet-stream' });
  }
  throw new TypeError('a file must be a Blob, File, ArrayBuffer, typed array, string, or {data, filename, contentType}');
}

/**
 * Normalise one file value to {blob, filename}.
 * @param {string} field
 * @param {any} f
 */
function normaliseFile(field, f) {
  if (f && typeof f === 'object' && !(typeof Blob !== 'undefined' && f instanceof Blob) &&
      !(f instanceof ArrayBuffer) && !ArrayBuffer.isView(f) && 'data' in f) {
    const type = f.contentType ?? f.content_type;
    return { blob: toBlob(f.data, type), filename: f.filename ?? f.name ?? field };
  }
  const blob = toBlob(f);
  return { blob, filename: (typeof f?.name === 'string' && f.name) || field };
}

/**
 * Build the multipart envelope (contract §4, "Multipart envelopes"): `query`, `headers`,
 * `path_params` and `body` as JSON text parts first, then one part per file under its
 * field name.
 */
export function multipartEnvelope(envelope) {
  const form = new FormData();
  for (const key of ['query', 'headers', 'path_params', 'body']) {
    const v = envelope[key];
    if (v !== undefined && v !== null) form.append(key, JSON.stringify(v));
  }
  for (const [field, value] of Object.entries(envelope.files || {})) {
    for (const f of Array.isArray(value) ? value : [value]) {
      const { blob, filename } = normaliseFile(field, f);
      form.append(field, blob, filename);
    }
  }
  return form;
}

/**
 * A ReadableStream over `blob` that reports bytes as the consumer (fetch) pulls them, in
 * pieces of at most 16 KiB so that progress moves in steps a UI can show.
 */
function countingStream(blob, onProgress) {
  const total = blob.size;
  const PIECE = 16 * 1024;
  let loaded = 0;
  let pending = null; // the rest of the chunk last read
  const reader = blob.stream().getReader();
  onProgress({ loaded: 0, total });
  return new ReadableStream({
    async pull(controller) {
      while (!pending || pending.length === 0) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        pending = value;
      }
      const piece = pending.subarray(0, PIECE);
      pending = pending.subarray(piece.length);
      controller.enqueue(piece);
      loaded += piece.length;
      onProgress({ loaded, total });
    },
    cancel(reason) { return reader.cancel(reason); },
  }, { highWaterMark: 0 });
}

/** Send a request with XMLHttpRequest (browsers: the one way to see upload progress over HTTP/1.1). */
function xhrFetch(url, { method, headers, body, signal, onUploadProgress }) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const xhr = new XMLHttpRequest();
    xhr.open(method, url, true);
    xhr.responseType = 'blob';
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    const total = typeof body === 'string' ? new Blob([body]).size : (body?.size ?? 0);
    onUploadProgress({ loaded: 0, total });
    xhr.upload.onprogress = (e) => onUploadProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : total });
    xhr.upload.onload = () => onUploadProgress({ loaded: total, total });
    const onAbort = () => xhr.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    xhr.onload = () => {
      signal?.removeEventListener('abort', onAbort);
      const h = new Headers();
      for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
        const i = line.indexOf(':');
        if (i > 0) h.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
      }
      const nullBody = xhr.status === 204 || xhr.status === 205 || xhr.status === 304;
      resolve(new Response(nullBody ? null : xhr.response, { status: xhr.status, statusText: xhr.statusText, headers: h }));
    };
    xhr.onerror = () => { signal?.removeEventListener('abort', onAbort); reject(new TypeError('Failed to fetch')); };
    xhr.onabort = () => reject(abortError(signal));
    xhr.send(body ?? null);
  });
}

/**
 * @typedef {{
 *   baseUrl?: string, org: string, apiKey?: string, token?: string,
 *   prefix?: string, fetch?: typeof fetch, headers?: Record<string, string>,
 *   uploadTransport?: 'auto' | 'stream' | 'xhr',
 * }} ClientOptions
 */

/** A client of one org of an aiproxy gateway. */
export class AiproxyClient {
  /** @param {ClientOptions} options */
  constructor(options) {
    if (!options || typeof options !== 'object') throw new TypeError('new AiproxyClient({baseUrl, org, apiKey | token})');
    const { org, apiKey, token } = options;
    if (!org) throw new TypeError('org is required');
    if (!apiKey && !token) throw new TypeError('apiKey or token is required');
    let base = options.baseUrl ?? (typeof location !== 'undefined' ? location.origin : '');
    if (!base) throw new TypeError('baseUrl is required outside a browser page');
    base = String(base).replace(/\/+$/, '');
    const prefix = (options.prefix ?? DEFAULT_PREFIX).replace(/\/+$/, '');
    if (prefix && base.endsWith(prefix)) base = base.slice(0, -prefix.length);
    this.baseUrl = base;
    this.prefix = prefix;
    this.org = org;
    /** The Authorization header value: `Api-Key <key>` or, for a browser token, `Bearer <token>`. */
    this.authorization = token ? `Bearer ${token}` : `Api-Key ${apiKey}`;
    this.uploadTransport = options.uploadTransport ?? 'auto';
    this.extraHeaders = { ...(options.headers || {}) };
    this._fetch = options.fetch ?? ((...a) => globalThis.fetch(...a));
    /** @type {Map<string, any>} */
    this._services = new Map();
    this._options = options;
  }

  /** A client of the same gateway and org that authenticates with a browser token (Bearer). */
  withToken(token) {
    const { apiKey: _drop, ...rest } = this._options;
    return new AiproxyClient({ ...rest, token });
  }

  /** The URL of a route under the org: `orgPath('/services/')`. */
  orgUrl(path) {
    return `${this.baseUrl}${this.prefix}/orgs/${encodeURIComponent(this.org)}${path}`;
  }

  /**
   * Send one request to the gateway and check the status; non-2xx throws AiproxyError.
   * @param {string} method
   * @param {string} url absolute URL, or a path under the org (starting with `/`)
   * @param {{body?: any, headers?: Record<string,string>, signal?: AbortSignal,
   *   onUploadProgress?: (p: {loaded: number, total: number}) => void}} [init]
   * @returns {Promise<Response>}
   */
  async request(method, url, init = {}) {
    if (url.startsWith('/')) url = this.orgUrl(url);
    const headers = { ...this.extraHeaders, Authorization: this.authorization, ...(init.headers || {}) };
    let body = init.body;
    if (body instanceof FormData) {
      // Serialise the form once: its bytes and boundary (for progress, and the same on every runtime).
      const r = new Response(body);
      headers['Content-Type'] = r.headers.get('content-type');
      body = await r.blob();
    }
    const { signal, onUploadProgress } = init;
    if (signal?.aborted) throw abortError(signal);
    let res;
    try {
      if (onUploadProgress && body != null) {
        const transport = this.uploadTransport === 'auto'
          ? (typeof XMLHttpRequest !== 'undefined' ? 'xhr' : 'stream')
          : this.uploadTransport;
        if (transport === 'xhr') {
          res = await xhrFetch(url, { method, headers, body, signal, onUploadProgress });
        } else {
          const blob = typeof body === 'string' ? new Blob([body]) : toBlob(body);
          res = await this._fetch(url, {
            method, headers, signal, duplex: 'half',
            body: countingStream(blob, onUploadProgress),
          });
        }
      } else {
        res = await this._fetch(url, { method, headers, body, signal });
      }
    } catch (err) {
      // An aborted call rejects with an AbortError (or the TimeoutError of AbortSignal.timeout).
      if (signal?.aborted && err?.name !== 'AbortError' && err?.name !== 'TimeoutError') throw abortError(signal);
      throw err;
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let parsed;
      try { parsed = JSON.parse(text); } catch { parsed = undefined; }
      const d = parsed && typeof parsed === 'object' ? (parsed.detail ?? parsed.error) : undefined;
      let msg = `${method} ${url}: HTTP ${res.status}: ${d !== undefined ? (typeof d === 'string' ? d : JSON.stringify(d)) : (text.slice(0, 300) || '(empty body)')}`;
      if (parsed && typeof parsed.upstream_status === 'number') msg += ` (upstream_status ${parsed.upstream_status})`;
      throw new AiproxyError(msg, { status: res.status, body: parsed, text, headers: res.headers, method, url });
    }
    return res;
  }

  /** GET a route under the org and parse its JSON. */
  async getJSON(path, { signal } = {}) {
    const res = await this.request('GET', path, { signal, headers: { Accept: 'application/json' } });
    return res.json();
  }

  // ---- discovery ----

  /** `GET …/services/`: the services this org may use (contract §3). */
  listServices({ signal } = {}) {
    return this.getJSON('/services/', { signal });
  }

  /** `GET …/services/{service}/`: one service and its actions; cached per client (`refresh` to re-read). */
  async getService(service, { signal, refresh = false } = {}) {
    if (!refresh && this._services.has(service)) return this._services.get(service);
    const detail = await this.getJSON(`/services/${encodeURIComponent(service)}/`, { signal });
    this._services.set(service, detail);
    return detail;
  }

  /** Every service this org may use, each with its `endpoints`. */
  async discover({ signal } = {}) {
    const list = await this.listServices({ signal });
    const out = [];
    for (const s of list) out.push(await this.getService(s.slug, { signal, refresh: true }));
    return out;
  }

  /**
   * The action of `service` whose provider call is `method` + `pathTemplate`, as the
   * provider's documentation names it (placeholder names do not need to match). Returns the
   * endpoint from discovery (its `slug` is the action), or null.
   */
  async findEndpoint(service, pathTemplate, method = 'POST', { signal } = {}) {
    const detail = await this.getService(service, { signal });
    const shape = templateShape(pathTemplate);
    const m = String(method).toUpperCase();
    return (detail.endpoints || []).find((e) => e.http_method.toUpperCase() === m && templateShape(e.path_template) === shape) ?? null;
  }

  // ---- invoke ----

  /**
   * POST an invoke envelope and return the checked Response (contract §4). Files in
   * `envelope.files` (Blob, File, bytes, or `{data, filename, contentType}`; a list for a
   * repeated field) are sent as a multipart envelope; otherwise the envelope is JSON.
   * @returns {Promise<Response>}
   */
  invokeRaw(service, action, envelope = {}, options = {}) {
    const hasFiles = envelope.files && Object.keys(envelope.files).length > 0;
    const headers = { ...(options.headers || {}) };
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    if (options.requestId) headers['X-Request-Id'] = options.requestId;
    let body;
    if (hasFiles) {
      body = multipartEnvelope(envelope);
    } else {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(envelope);
    }
    return this.request('POST', `/services/${encodeURIComponent(service)}/${encodeURIComponent(action)}/`, {
      body, headers, signal: options.signal, onUploadProgress: options.onUploadProgress,
    });
  }

  /**
   * Invoke an action and read its answer: by content type (JSON parsed, `text/*` a string,
   * anything else a Blob), or as `options.as` says: 'json', 'text', 'blob', 'arrayBuffer',
   * 'stream' (a ReadableStream of bytes) or 'response'.
   */
  async invoke(service, action, envelope = {}, options = {}) {
    const res = await this.invokeRaw(service, action, envelope, options);
    switch (options.as ?? 'auto') {
      case 'auto': return readByContentType(res);
      case 'json': { const t = await res.text(); return t === '' ? null : JSON.parse(t); }
      case 'text': return res.text();
      case 'blob': return res.blob();
      case 'arrayBuffer': return res.arrayBuffer();
      case 'stream': return res.body;
      case 'response': return res;
      default: throw new TypeError(`unknown 'as': ${options.as}`);
    }
  }

  /** Invoke an action and return its answer as a ReadableStream of bytes, as it arrives. */
  async stream(service, action, envelope = {}, options = {}) {
    const res = await this.invokeRaw(service, action, envelope, options);
    return res.body;
  }

  // ---- jobs (docs/jobs.md, contract §15) ----

  /** `GET …/jobs/`: one page `{results, next}`; `query` may hold service, status, limit, cursor. */
  listJobs(query = {}, { signal } = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, String(v));
    const qs = q.toString();
    return this.getJSON(`/jobs/${qs ? `?${qs}` : ''}`, { signal });
  }

  /** `GET …/jobs/{id}/?wait=N`: one job, held up to `wait` seconds (0–300) until it is terminal. */
  async getJob(id, { wait, signal } = {}) {
    const q = wait ? `?wait=${Math.max(0, Math.min(300, Math.floor(wait)))}` : '';
    return this.getJSON(`/jobs/${encodeURIComponent(id)}/${q}`, { signal });
  }

  /**
   * The job whose provider id (`upstream_job_id`, e.g. a HeyGen video_id) is `upstreamJobId`,
   * looked up in the newest jobs (up to `maxPages` pages of 200); null when not found.
   */
  async findJob(upstreamJobId, { service, maxPages = 5, signal } = {}) {
    let page = await this.listJobs({ service, limit: 200 }, { signal });
    for (let i = 0; ; i++) {
      const hit = (page.results || []).find((j) => j.upstream_job_id === upstreamJobId);
      if (hit) return hit;
      if (!page.next || i + 1 >= maxPages) return null;
      const next = new URL(page.next, this.baseUrl + '/').href;
      page = await (await this.request('GET', next, { signal, headers: { Accept: 'application/json' } })).json();
    }
  }

  /**
   * Wait until a job is `completed` or `failed`, with the gateway's long wait
   * (`GET …/jobs/{id}/?wait=N`) instead of polling the provider. `job` is the gateway's job
   * id (a number, or a job view), or the provider's id (a string such as a HeyGen video_id,
   * found with findJob; give `service` to narrow the search). Resolves with the final job
   * view (a job the gateway does not follow, `status: null`, at once).
   * @param {number | string | {id: number}} job
   * @param {{service?: string, waitSeconds?: number, timeoutMs?: number, signal?: AbortSignal,
   *   onProgress?: (job: any) => void, throwOnFailure?: boolean}} [options]
   */
  async waitForJob(job, options = {}) {
    const { service, waitSeconds = 60, timeoutMs = 15 * 60 * 1000, signal, onProgress, throwOnFailure = false } = options;
    const deadline = Date.now() + timeoutMs;
    let id;
    if (typeof job === 'number') id = job;
    else if (job && typeof job === 'object' && job.id !== undefined) id = job.id;
    else if (typeof job === 'string') {
      // The provider's id; the job is recorded when the creating call answers, so it is
      // normally there at once. Look again briefly in case a replica is behind.
      let found = null;
      for (let attempt = 0; attempt < 3 && !found; attempt++) {
        if (attempt) await sleep(250 * attempt, signal);
        found = await this.findJob(job, { service, signal });
      }
      if (!found) throw new Error(`no job of org ${this.org} has upstream_job_id ${JSON.stringify(job)}`);
      id = found.id;
    } else {
      throw new TypeError('waitForJob: give a job id, a job view, or the provider id of the job');
    }
    let view = await this.getJob(id, { signal });
    let last = '';
    const report = (v) => {
      const key = `${v.status}|${v.provider_status}|${v.updated_at}`;
      if (key !== last) { last = key; onProgress?.(v); }
    };
    report(view);
    while (view.status !== null && !TERMINAL_JOB_STATES.includes(view.status)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new JobTimeoutError(`job ${id} is still ${view.status} after ${timeoutMs} ms`, view);
      const wait = Math.max(1, Math.min(waitSeconds, 300, Math.ceil(left / 1000)));
      view = await this.getJob(id, { wait, signal });
      report(view);
    }
    if (throwOnFailure && view.status === 'failed') {
      throw new JobFailedError(`job ${id} failed: ${JSON.stringify(view.error)}`, view);
    }
    return view;
  }

  // ---- browser tokens (contract §12) ----

  /**
   * Mint a browser token (`POST …/orgs/{org}/tokens/`) with this client's key (admin or
   * member; not a token). Resolves with `{token, prefix, name, role, scopes, expires_at}`.
   * Do this on a server, and hand `token` to the page: `new AiproxyClient({org, token})`.
   * @param {{scopes?: string[], ttlSeconds?: number, name?: string, signal?: AbortSignal}} [options]
   */
  async mintBrowserToken({ scopes, ttlSeconds, name, signal } = {}) {
    const body = {};
    if (scopes !== undefined) body.scopes = scopes;
    if (ttlSeconds !== undefined) body.ttl_seconds = ttlSeconds;
    if (name !== undefined) body.name = name;
    const res = await this.request('POST', '/tokens/', {
      body: JSON.stringify(body), signal, headers: { 'Content-Type': 'application/json' },
    });
    return res.json();
  }
}

/** `new AiproxyClient(options)`. */
export function createClient(options) {
  return new AiproxyClient(options);
}

export default AiproxyClient;
