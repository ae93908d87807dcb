#!/usr/bin/env node
// A dynamic client: it learns every service and action from discovery and
// checks an envelope's path parameters locally before any network call.
//
//   AIPROXY_URL=... AIPROXY_ORG=... AIPROXY_KEY=... node examples/dynamic-client.mjs
//
// Usable as a module too:
//   import { DynamicClient } from './dynamic-client.mjs';
//   const client = new DynamicClient(env); await client.discover();
//   const voices = await client.call('elevenlabs', 'list-voices');

import {
  loadEnv, installFetchShim, getJSON, ProxyError, describeErrorBody, authHeaders, PREFIX, runMain, step, assert,
} from './lib/env.mjs';

/** Thrown when the client refuses a call itself, before any network request. */
export class LocalValidationError extends Error {
  constructor(message) {
    super(message);
    this.name = 'LocalValidationError';
  }
}

/** The `{name}` placeholders of a path template, in template order. */
export function requiredPathParams(pathTemplate) {
  return [...String(pathTemplate).matchAll(/\{([^{}\/]+)\}/g)].map((m) => m[1]);
}

export class DynamicClient {
  /** @param {{baseUrl: string, org: string, apiKey: string}} env */
  constructor(env) {
    this.env = env;
    /** service slug -> { service, actions: Map(action slug -> endpoint) } */
    this.services = new Map();
    this.requests = 0; // network requests made by this client
  }

  async #fetch(url, init) {
    this.requests += 1;
    return fetch(url, init);
  }

  /** GET /services/ and each /services/{slug}/, building the action map. */
  async discover() {
    this.requests += 1;
    const list = await getJSON(this.env, '/services/');
    assert(Array.isArray(list), 'GET /services/ returns a JSON array');
    this.services.clear();
    for (const summary of list) {
      this.requests += 1;
      const detail = await getJSON(this.env, `/services/${encodeURIComponent(summary.slug)}/`);
      const actions = new Map();
      for (const e of detail.endpoints || []) {
        actions.set(e.slug, {
          path_template: e.path_template,
          http_method: e.http_method,
          request_mode: e.request_mode,
          response_mode: e.response_mode,
          path_params: requiredPathParams(e.path_template),
        });
      }
      this.services.set(summary.slug, { summary, detail, actions });
    }
    return this.services;
  }

  endpoint(service, action) {
    const s = this.services.get(service);
    if (!s) throw new LocalValidationError(`Unknown service '${service}' (known: ${[...this.services.keys()].join(', ') || 'none; call discover() first'}).`);
    const e = s.actions.get(action);
    if (!e) throw new LocalValidationError(`Unknown action '${action}' for service '${service}'.`);
    return e;
  }

  /** Throws LocalValidationError unless every placeholder of the action has a usable value. */
  validate(service, action, envelope = {}) {
    const e = this.endpoint(service, action);
    const given = envelope.path_params ?? {};
    if (typeof given !== 'object' || Array.isArray(given)) {
      throw new LocalValidationError("Field 'path_params' must be an object.");
    }
    for (const name of e.path_params) {
      const v = given[name];
      if (v === undefined || v === null) {
        throw new LocalValidationError(`Missing required path parameter: ${name}`);
      }
      if (typeof v !== 'string' && typeof v !== 'number') {
        throw new LocalValidationError(`Path parameter '${name}' must be a string or an integer.`);
      }
      if (String(v) === '' || String(v) === '.' || String(v) === '..') {
        throw new LocalValidationError(`Invalid value for path parameter '${name}'.`);
      }
    }
    return e;
  }

  /**
   * Invoke an action. Refuses locally (no network call) when a required path
   * parameter is missing, unless `skipLocalCheck` is set. Returns parsed JSON
   * for `json` responses, `{contentType, bytes}` for `passthrough`, and the
   * Response itself (read `response.body`) for `stream`.
   * Throws ProxyError (with .status and .body) on a non-2xx answer.
   */
  async call(service, action, envelope = {}, { skipLocalCheck = false } = {}) {
    const e = skipLocalCheck ? this.services.get(service)?.actions.get(action) : this.validate(service, action, envelope);
    const url = `${this.env.baseUrl}${PREFIX}/orgs/${encodeURIComponent(this.env.org)}/services/${service}/${action}/`;
    const res = await this.#fetch(url, {
      method: 'POST',
      headers: { ...authHeaders(this.env.apiKey), 'Content-Type': 'application/json' },
      body: JSON.stringify(envelope),
    });
    if (!res.ok) throw new ProxyError(res.status, await res.text(), `${service}/${action}`);
    const mode = e?.response_mode ?? 'json';
    if (mode === 'stream') return res;
    if (mode === 'passthrough' || mode === 'binary') {
      return { contentType: res.headers.get('content-type') || '', bytes: new Uint8Array(await res.arrayBuffer()) };
    }
    const text = await res.text();
    try { return JSON.parse(text); } catch { throw new Error(`${service}/${action}: response is not JSON: ${describeErrorBody(text)}`); }
  }
}

async function main() {
  const env = loadEnv();
  installFetchShim(env);
  console.log(`Dynamic client against ${env.baseUrl} as org ${env.org}`);
  const client = new DynamicClient(env);

  step(1, 'discover services and their endpoints');
  await client.discover();
  assert(client.services.size > 0, 'the org can use at least one service');
  for (const [slug, { summary, actions }] of client.services) {
    const withParams = [...actions.values()].filter((e) => e.path_params.length).length;
    console.log(`  ${slug.padEnd(12)} ${String(actions.size).padStart(3)} endpoint(s) (endpoint_count ${summary.endpoint_count}), ${withParams} with path parameters`);
    if (summary.endpoint_count !== undefined && summary.endpoint_count !== actions.size) {
      console.log(`  note: endpoint_count ${summary.endpoint_count} differs from the ${actions.size} listed endpoints`);
    }
  }
  assert(client.services.has('elevenlabs'), 'the org can use elevenlabs');
  const getVoice = client.endpoint('elevenlabs', 'get-voice');
  console.log(`  elevenlabs/get-voice: ${getVoice.http_method} ${getVoice.path_template} -> required path parameters [${getVoice.path_params.join(', ')}]`);
  assert(getVoice.path_params.includes('voice_id'), 'get-voice requires voice_id');

  step(2, 'a call without voice_id is refused locally');
  const before = client.requests;
  let refused = null;
  try {
    await client.call('elevenlabs', 'get-voice', { path_params: {} });
  } catch (err) {
    refused = err;
  }
  assert(refused instanceof LocalValidationError, `the call was refused locally (got ${refused ? refused.message : 'success'})`);
  assert(client.requests === before, 'no network request was made');
  console.log(`Refused locally, no request sent: ${refused.message}`);

  step(3, 'the same call with voice_id succeeds');
  const { voices } = await client.call('elevenlabs', 'list-voices');
  assert(Array.isArray(voices) && voices.length > 0 && voices[0].voice_id, 'list-voices returns at least one voice');
  const voiceId = voices[0].voice_id;
  const voice = await client.call('elevenlabs', 'get-voice', { path_params: { voice_id: voiceId } });
  assert(voice && voice.voice_id === voiceId, `get-voice returns the voice asked for (${voiceId})`);
  console.log(`get-voice ${voiceId}: ${voice.name ?? '(no name)'}${voice.category ? ` [${voice.category}]` : ''}`);

  step(4, "bypass the local check once: the server's own 400");
  let serverErr = null;
  try {
    await client.call('elevenlabs', 'get-voice', { path_params: {} }, { skipLocalCheck: true });
  } catch (err) {
    serverErr = err;
  }
  assert(serverErr instanceof ProxyError, `the server refused the call (got ${serverErr ? serverErr.message : 'success'})`);
  assert(serverErr.status === 400, `the server answered 400 (got ${serverErr.status})`);
  const expected = 'Missing required path parameter: voice_id';
  assert(serverErr.body?.error === expected,
    `the server's error is {"error": "${expected}"} (got ${serverErr.text})`);
  console.log(`Server answered ${serverErr.status} ${JSON.stringify(serverErr.body)} (the message the local check mirrors; the 400 above on stderr is expected)`);

  console.log(`\nOK: dynamic client completed (${client.requests} request(s))`);
}

runMain(import.meta.url, main);
