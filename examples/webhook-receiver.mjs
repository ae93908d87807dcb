#!/usr/bin/env node
// A receiver for the gateway's org webhooks (Standard Webhooks), and a run that checks it.
//
// When one of an org's jobs finishes, the gateway POSTs to the org's webhook URL
// (PUT …/orgs/{org}/webhook/, an admin key):
//
//   webhook-id:        msg_…  (the same on every retry: ignore the ones already seen)
//   webhook-timestamp: Unix seconds of the attempt
//   webhook-signature: v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{raw body}">
//                      keyed with the base64-decoded part of the secret after "whsec_";
//                      possibly several, space-separated (one matching is enough)
//   body:              {"type": "job.completed" | "job.failed", "timestamp": "…",
//                       "data": the job's view (id, service, action, upstream_job_id,
//                       status, provider_status, result, error, …)}
//
// Any 2xx answer means delivered; anything else is retried (5 s, 30 s, 2 min, …).
// The receiver below (node:http and node:crypto only; copy it, or import
// { verifyWebhook, createWebhookReceiver } from this file) reads the raw body, checks the
// signature in constant time, refuses a timestamp more than 5 minutes off, ignores a
// webhook-id it has already accepted, answers 204 at once and then logs the event.
//
// Default mode, the example (what run-all.sh runs; AIPROXY_KEY must be an admin key, as
// the demo's is, and the gateway must accept http://127.0.0.1 URLs, as the demo does with
// --webhook-allow-private):
//   1. starts the receiver on 127.0.0.1 (an ephemeral port),
//   2. PUT …/webhook/ {"url": "http://127.0.0.1:PORT/hook", "events": [...]} and keeps the
//      secret of the answer (when the org already had a webhook, which the PUT replaces,
//      a second PUT with "rotate_secret": true gets one),
//   3. makes a HeyGen test video as heygen-wait.mjs does (list-avatars, list-voices,
//      generate-video with test: true: the documentation's functions),
//   4. waits for the signed job.completed delivery of that video's job (data.upstream_job_id
//      is the video_id) and checks it: signature, status "completed", result.video_url,
//   5. checks that GET …/webhook/deliveries/ lists it as "delivered",
//   6. checks locally that a tampered body, a stale timestamp and an unsigned request are
//      refused and that a replay of the same webhook-id is ignored,
//   7. DELETE …/webhook/ (also on failure), and prints a summary.
//
//   AIPROXY_URL=http://127.0.0.1:8080 AIPROXY_ORG=... AIPROXY_KEY=... node examples/webhook-receiver.mjs
//
// Optional: WEBHOOK_WAIT_SECONDS (default 120), WEBHOOK_HOST (default 127.0.0.1),
// WEBHOOK_PORT (default 0: any free port), WEBHOOK_PUBLIC_URL (the URL to register when the
// gateway reaches the receiver by another address, e.g. a tunnel; default
// http://WEBHOOK_HOST:PORT/hook), SCRIPT, VERBOSE=1.
//
// Listen mode, only the receiver (for your own webhook; the secret is the one the PUT
// answered):
//
//   WEBHOOK_SECRET=whsec_... node examples/webhook-receiver.mjs --listen 8000
//
// It listens on WEBHOOK_HOST (default 127.0.0.1) and logs every event until Ctrl-C.

import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  loadEnv, installFetchShim, runMain, step, assert, die, getJSON, authHeaders, PREFIX, ProxyError,
} from './lib/env.mjs';
import { listAvatars, listVoices, generateVideo } from './lib/heygen-docs.mjs';

// ---------------------------------------------------------------- the receiver

const TOLERANCE_SECONDS = 5 * 60;

/** The HMAC key of a Standard Webhooks secret: the base64 after "whsec_". Throws when malformed. */
export function secretKey(secret) {
  const b64 = String(secret ?? '').replace(/^whsec_/, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new Error('the webhook secret must be "whsec_" and base64');
  const key = Buffer.from(b64, 'base64');
  if (key.length === 0) throw new Error('the webhook secret is empty');
  return key;
}

/** The signature header's value for a message: "v1," + base64 HMAC-SHA256 over "{id}.{timestamp}.{body}". */
export function signWebhook(secret, id, timestamp, rawBody) {
  const mac = createHmac('sha256', secretKey(secret));
  mac.update(`${id}.${timestamp}.`);
  mac.update(rawBody);
  return `v1,${mac.digest('base64')}`;
}

/**
 * Check a delivery: headers (Node's lower-cased req.headers, or a fetch Headers) and the
 * raw body exactly as received (a Buffer: before any JSON parsing). Returns
 * { ok: true, id, timestamp } or { ok: false, reason }.
 */
export function verifyWebhook(secret, headers, rawBody, { now = Date.now(), toleranceSeconds = TOLERANCE_SECONDS } = {}) {
  const get = (name) => {
    const v = typeof headers?.get === 'function' ? headers.get(name) : headers?.[name];
    return Array.isArray(v) ? v.join(' ') : (v ?? '');
  };
  const id = get('webhook-id');
  const timestamp = get('webhook-timestamp');
  const signatures = get('webhook-signature');
  if (!id || !timestamp || !signatures.trim()) return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: `malformed webhook-timestamp ${JSON.stringify(timestamp)}` };
  const skew = Math.abs(now / 1000 - Number(timestamp));
  if (skew > toleranceSeconds) return { ok: false, reason: `webhook-timestamp is ${Math.round(skew)} s off (more than ${toleranceSeconds} s)` };

  const expected = Buffer.from(signWebhook(secret, id, timestamp, rawBody).slice('v1,'.length));
  let match = false;
  for (const s of signatures.split(' ')) {
    const comma = s.indexOf(',');
    if (comma < 0 || s.slice(0, comma) !== 'v1') continue; // another version: not ours to check
    const given = Buffer.from(s.slice(comma + 1));
    // timingSafeEqual needs equal lengths; the length of a signature is no secret.
    if (given.length === expected.length && timingSafeEqual(given, expected)) match = true;
  }
  if (!match) return { ok: false, reason: 'no signature matches' };
  return { ok: true, id, timestamp: Number(timestamp) };
}

/**
 * An http.Server that accepts the gateway's deliveries. secret: the "whsec_…" string, or a
 * function returning it (null/empty: not known yet, answered 503 so that the gateway
 * retries). onEvent({ id, timestamp, event, rawBody, headers }) runs after the 204 has been
 * sent, once per webhook-id. server.stats counts what came in.
 *
 * Answering first keeps the gateway's attempt short; an application that must not lose an
 * event stores it durably (a table, a queue) before answering instead, and dedupes there.
 */
export function createWebhookReceiver({
  secret, onEvent = () => {}, path = null, log = console.log,
  maxBodyBytes = 1 << 20, seenLimit = 10000, toleranceSeconds = TOLERANCE_SECONDS,
}) {
  const seen = new Map(); // webhook-id -> when accepted (insertion order: oldest first)
  const stats = { requests: 0, accepted: 0, duplicates: 0, rejected: 0 };

  const server = http.createServer((req, res) => {
    stats.requests++;
    const answer = (status, text) => {
      if (status >= 400) stats.rejected++;
      res.writeHead(status, text ? { 'Content-Type': 'text/plain; charset=utf-8' } : {});
      res.end(text);
    };
    const url = new URL(req.url, 'http://receiver');
    if (path && url.pathname !== path) { req.resume(); return answer(404, 'not found\n'); }
    if (req.method !== 'POST') { req.resume(); res.setHeader('Allow', 'POST'); return answer(405, 'POST only\n'); }

    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= maxBodyBytes) chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (size > maxBodyBytes) return answer(413, 'body too large\n');
      const rawBody = Buffer.concat(chunks);
      const key = typeof secret === 'function' ? secret() : secret;
      if (!key) return answer(503, 'not ready\n');

      const v = verifyWebhook(key, req.headers, rawBody, { toleranceSeconds });
      if (!v.ok) {
        log(`[receiver] refused ${req.headers['webhook-id'] || '(no webhook-id)'}: ${v.reason}`);
        return answer(401, `${v.reason}\n`);
      }
      if (seen.has(v.id)) {
        stats.duplicates++;
        log(`[receiver] ${v.id}: already seen, ignored`);
        return answer(204);
      }
      let event;
      try {
        event = JSON.parse(rawBody.toString('utf8'));
      } catch {
        return answer(400, 'body is not JSON\n');
      }
      seen.set(v.id, Date.now());
      if (seen.size > seenLimit) seen.delete(seen.keys().next().value);
      stats.accepted++;
      answer(204);

      // The work happens after the answer.
      setImmediate(() => {
        const d = event?.data ?? {};
        log(`[receiver] ${v.id} ${event?.type}: job ${d.id} ${d.service}/${d.action} ` +
          `upstream_job_id ${d.upstream_job_id} status ${d.status}` +
          (d.result?.video_url ? ` video_url ${d.result.video_url}` : '') +
          (d.error ? ` error ${JSON.stringify(d.error)}` : ''));
        try {
          onEvent({ id: v.id, timestamp: v.timestamp, event, rawBody, headers: { ...req.headers } });
        } catch (err) {
          log(`[receiver] handling ${v.id} failed: ${err?.message || err}`);
        }
      });
    });
  });
  server.stats = stats;
  return server;
}

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(server.address()); });
  });
}

// ---------------------------------------------------------------- listen mode

async function listenMode(portArg) {
  const port = Number(portArg);
  if (!Number.isInteger(port) || port < 0 || port > 65535) die(`--listen needs a port number, got ${JSON.stringify(portArg)}`);
  const secret = (process.env.WEBHOOK_SECRET || '').trim();
  if (!secret) die('set WEBHOOK_SECRET to the "whsec_…" secret that PUT …/orgs/{org}/webhook/ answered');
  try { secretKey(secret); } catch (err) { die(err.message); }
  const host = process.env.WEBHOOK_HOST || '127.0.0.1';

  const server = createWebhookReceiver({ secret });
  const addr = await listen(server, port, host);
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  console.log(`Listening on http://${shown}:${addr.port}/ (any path; POST only). Ctrl-C stops.`);
  await new Promise((resolve) => {
    const stop = () => server.close(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const s = server.stats;
  console.log(`\nStopped: ${s.requests} request(s), ${s.accepted} event(s), ${s.duplicates} duplicate(s), ${s.rejected} refused`);
}

// ---------------------------------------------------------------- the example

function intFromEnv(name, fallback, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) die(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

/** A request to the org's webhook routes: { status, body (parsed JSON or undefined), text }. */
async function webhookApi(env, method, path, body) {
  const url = `${env.baseUrl}${PREFIX}/orgs/${encodeURIComponent(env.org)}/webhook/${path}`;
  const headers = { ...authHeaders(env.apiKey), Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed;
  try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
  return { status: res.status, body: parsed, text, url };
}

async function putWebhook(env, hookUrl, extra = {}) {
  const r = await webhookApi(env, 'PUT', '', { url: hookUrl, events: ['job.completed', 'job.failed'], ...extra });
  if (r.status === 403) {
    throw new ProxyError(r.status, r.text, `PUT ${r.url} (webhooks need an admin key of the org in AIPROXY_KEY)`);
  }
  if (r.status === 400) {
    throw new ProxyError(r.status, r.text, `PUT ${r.url} (a gateway refuses http:// and loopback URLs unless started ` +
      'with --webhook-allow-private, as the demo is; or set WEBHOOK_PUBLIC_URL)');
  }
  if (r.status !== 200) throw new ProxyError(r.status, r.text, `PUT ${r.url}`);
  assert(r.body && typeof r.body === 'object', `PUT …/webhook/ answered a JSON object (got ${r.text.slice(0, 200)})`);
  return r.body;
}

/** True for a secret we can sign with, false for a masked one ("whsec_****abcd") or none. */
function usableSecret(secret) {
  try { secretKey(secret); return typeof secret === 'string' && secret.startsWith('whsec_'); } catch { return false; }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The fetch of Node itself, kept before installFetchShim wraps it: the local checks post
// to our own receiver, whose 401s are expected and not the proxy's errors to report.
const plainFetch = globalThis.fetch;

async function exampleMode() {
  const env = loadEnv();
  installFetchShim(env);
  const waitSeconds = intFromEnv('WEBHOOK_WAIT_SECONDS', 120, 1, 3600);
  const bindHost = process.env.WEBHOOK_HOST || '127.0.0.1';
  const bindPort = intFromEnv('WEBHOOK_PORT', 0, 0, 65535);
  const script = process.env.SCRIPT || 'Hello! This is a demonstration of HeyGen video generation.';
  const { org, apiKey } = env;
  console.log(`Org webhooks against ${env.baseUrl} as org ${org}`);

  // Events seen by the receiver, and whoever waits for one of them.
  let secret = null;
  const events = [];
  const waiters = new Set();
  const receiver = createWebhookReceiver({
    secret: () => secret,
    path: '/hook',
    onEvent: (e) => {
      events.push(e);
      for (const w of waiters) w(e);
    },
  });

  let hookSet = false;
  try {
    step(1, 'start the receiver');
    const addr = await listen(receiver, bindPort, bindHost);
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    const hookUrl = process.env.WEBHOOK_PUBLIC_URL || `http://${host}:${addr.port}/hook`;
    console.log(`Receiver listening on http://${host}:${addr.port}/hook; registering ${hookUrl}`);

    step(2, 'PUT …/webhook/ with its URL');
    let hook = await putWebhook(env, hookUrl);
    hookSet = true;
    if (!usableSecret(hook.secret)) {
      // The org had a webhook already: the PUT replaced its URL and events and kept its
      // secret, which is shown only once (the answer masks it: "whsec_****…"). Ask for a new one.
      console.log(`The org already had a webhook (now replaced; secret shown as ${JSON.stringify(hook.secret)}); ` +
        'asking for a new secret with "rotate_secret": true');
      hook = await putWebhook(env, hookUrl, { rotate_secret: true });
    }
    assert(usableSecret(hook.secret), `the PUT answer has a "whsec_…" secret (got ${JSON.stringify(hook.secret)})`);
    assert(hook.url === hookUrl, `the webhook's url is ${hookUrl} (got ${JSON.stringify(hook.url)})`);
    assert(Array.isArray(hook.events) && hook.events.includes('job.completed') && hook.events.includes('job.failed'),
      `the webhook's events are job.completed and job.failed (got ${JSON.stringify(hook.events)})`);
    secret = hook.secret;
    console.log(`Webhook set: url ${hook.url}, events ${hook.events.join(', ')}, secret whsec_…${secret.slice(-4)} (shown only now)`);

    const shown = await webhookApi(env, 'GET', '');
    assert(shown.status === 200, `GET …/webhook/ answered 200 (got ${shown.status}: ${shown.text.slice(0, 200)})`);
    assert(typeof shown.body?.secret === 'string' && shown.body.secret !== secret && shown.body.secret.startsWith('whsec_'),
      `GET …/webhook/ shows the secret masked (got ${JSON.stringify(shown.body?.secret)})`);
    console.log(`GET …/webhook/ shows the secret as ${shown.body.secret}`);

    step(3, 'make a HeyGen test video (the documentation\'s listAvatars, listVoices, generateVideo)');
    const avatars = await listAvatars(org, apiKey);
    assert(Array.isArray(avatars) && avatars.length > 0, 'list-avatars returned at least one avatar');
    const voices = await listVoices(org, apiKey);
    assert(Array.isArray(voices) && voices.length > 0, 'list-voices returned at least one voice');
    assert(avatars[0]?.avatar_id, 'the first avatar has an avatar_id');
    assert(voices[0]?.voice_id, 'the first voice has a voice_id');
    // Listen before asking, so that even an instant delivery is not missed.
    let onMatch;
    const delivered = new Promise((resolve) => { onMatch = resolve; });
    let videoId = null;
    const early = [];
    const match = (e) => {
      if (videoId === null) { early.push(e); return; }
      if (e.event?.data?.upstream_job_id === videoId) onMatch(e);
    };
    waiters.add(match);
    const started = Date.now();
    videoId = await generateVideo(org, apiKey, avatars[0].avatar_id, voices[0].voice_id, script);
    assert(typeof videoId === 'string' && videoId, `generate-video returned data.video_id (got ${JSON.stringify(videoId)})`);
    console.log(`Video generation started (avatar ${avatars[0].avatar_id}, voice ${voices[0].voice_id}). Video ID: ${videoId}`);
    early.forEach(match);

    step(4, `wait (up to ${waitSeconds} s) for the signed delivery about video ${videoId}`);
    let timer;
    const got = await Promise.race([
      delivered,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(
          `no verified delivery about video ${videoId} within ${waitSeconds} s ` +
          `(receiver: ${JSON.stringify(receiver.stats)}; see GET …/webhook/deliveries/)`)), waitSeconds * 1000);
      }),
    ]).catch(async (err) => {
      // Say what the gateway recorded: its attempts tell why nothing arrived.
      const page = await getJSON(env, '/webhook/deliveries/?limit=3').catch((e) => ({ error: e.message }));
      throw new Error(`${err.message}\n  latest deliveries: ${JSON.stringify(page)}`);
    }).finally(() => { clearTimeout(timer); waiters.delete(match); });
    const elapsed = (Date.now() - started) / 1000;
    const { event } = got;
    const job = event.data;
    console.log(`Delivery ${got.id} after ${elapsed.toFixed(1)} s: ${event.type}, job ${job.id}, status ${job.status}`);
    // Only verified deliveries reach onEvent; check once more, on the bytes as received.
    const again = verifyWebhook(secret, got.headers, got.rawBody);
    assert(again.ok, `the delivery's signature verifies (${again.reason})`);
    assert(/^msg_/.test(got.id), `webhook-id starts with msg_ (got ${JSON.stringify(got.id)})`);
    if (event.type === 'job.failed') throw new Error(`video ${videoId} failed: ${JSON.stringify(job.error)}`);
    assert(event.type === 'job.completed', `the event is job.completed (got ${JSON.stringify(event.type)})`);
    assert(typeof event.timestamp === 'string' && !Number.isNaN(Date.parse(event.timestamp)),
      `the event has an ISO timestamp (got ${JSON.stringify(event.timestamp)})`);
    assert(Number.isInteger(job.id), `data.id is the job's id (got ${JSON.stringify(job.id)})`);
    assert(job.service === 'heygen' && job.action === 'generate-video',
      `data is a heygen generate-video job (got ${job.service}/${job.action})`);
    assert(job.status === 'completed', `data.status is "completed" (got ${JSON.stringify(job.status)})`);
    assert(job.result && typeof job.result.video_url === 'string' && job.result.video_url,
      `data.result.video_url is set (result: ${JSON.stringify(job.result)})`);
    console.log(`Signature verified; data.status completed; video_url ${job.result.video_url}`);

    step(5, 'GET …/webhook/deliveries/ lists it as delivered');
    // The gateway records the attempt after reading our answer: allow it a moment.
    let d;
    for (let i = 0; ; i++) {
      const page = await getJSON(env, '/webhook/deliveries/');
      assert(Array.isArray(page?.results), `the deliveries list has a results array (got ${JSON.stringify(page).slice(0, 200)})`);
      d = page.results.find((x) => x.id === got.id);
      if (d?.state === 'delivered' || i >= 20) break;
      await sleep(500);
    }
    assert(d, `delivery ${got.id} is in GET …/webhook/deliveries/`);
    assert(d.state === 'delivered', `delivery ${got.id} is "delivered" (got ${JSON.stringify(d.state)}: ${JSON.stringify(d)})`);
    assert(d.type === 'job.completed', `the listed delivery is a job.completed (got ${JSON.stringify(d.type)})`);
    assert(d.job_id === job.id, `the listed delivery is about job ${job.id} (got ${JSON.stringify(d.job_id)})`);
    assert(Array.isArray(d.attempts) && d.attempts.length > 0, `the listed delivery has its attempts (got ${JSON.stringify(d.attempts)})`);
    const last = d.attempts[d.attempts.length - 1];
    assert(last.response_status === 204, `its last attempt got our 204 (got ${JSON.stringify(last)})`);
    for (const a of d.attempts) {
      console.log(`  attempt ${a.attempt} at ${a.at}: ${a.response_status ?? a.error} (${a.duration_ms} ms)`);
    }
    console.log(`Delivery ${d.id}: state ${d.state}, ${d.attempts.length} attempt(s)`);

    step(6, 'what the receiver refuses (locally)');
    const tampered = Buffer.from(got.rawBody.toString('utf8').replace('"completed"', '"failed"'));
    assert(!tampered.equals(got.rawBody), 'the tampered body differs from the original');
    const t = verifyWebhook(secret, got.headers, tampered);
    assert(!t.ok, 'a tampered body does not verify');
    console.log(`Tampered body ("completed" -> "failed"), same headers: refused (${t.reason})`);
    const oldTs = String(Math.floor(Date.now() / 1000) - 10 * 60);
    const staleHeaders = { ...got.headers, 'webhook-timestamp': oldTs, 'webhook-signature': signWebhook(secret, got.id, oldTs, got.rawBody) };
    const s = verifyWebhook(secret, staleHeaders, got.rawBody);
    assert(!s.ok, 'a correctly signed delivery 10 minutes old does not verify');
    console.log(`Correctly signed but 10 minutes old: refused (${s.reason})`);
    const w = verifyWebhook('whsec_' + Buffer.alloc(32, 7).toString('base64'), got.headers, got.rawBody);
    assert(!w.ok, 'the delivery does not verify with another secret');
    console.log(`Another secret: refused (${w.reason})`);
    // The same over HTTP, through the receiver.
    const post = async (headers, body) => {
      const res = await plainFetch(`http://${host}:${addr.port}/hook`, { method: 'POST', headers, body });
      await res.arrayBuffer();
      return res.status;
    };
    const fresh = String(Math.floor(Date.now() / 1000));
    const sent = {
      'webhook-id': got.id, 'webhook-timestamp': fresh, 'content-type': 'application/json',
    };
    const accepted = receiver.stats.accepted;
    let st = await post({ ...sent, 'webhook-signature': signWebhook(secret, got.id, fresh, got.rawBody) }, tampered);
    assert(st === 401, `POST of the tampered body to the receiver is 401 (got ${st})`);
    st = await post({ ...sent }, got.rawBody);
    assert(st === 401, `POST without a signature is 401 (got ${st})`);
    st = await post({ ...sent, 'webhook-signature': signWebhook(secret, got.id, fresh, got.rawBody) }, got.rawBody);
    assert(st === 204, `a replay of ${got.id} (re-signed) is answered 204 (got ${st})`);
    assert(receiver.stats.accepted === accepted, 'the replay was not handled again');
    console.log('Over HTTP: tampered body 401, unsigned 401, replay of the same webhook-id 204 and ignored');

    step(7, 'DELETE …/webhook/');
    const del = await webhookApi(env, 'DELETE', '');
    assert(del.status === 204, `DELETE …/webhook/ answered 204 (got ${del.status}: ${del.text.slice(0, 200)})`);
    hookSet = false;
    console.log('Webhook deleted');

    const rs = receiver.stats;
    console.log('\nSummary:');
    console.log(`  video ${videoId}: job ${job.id} completed, delivery ${got.id} verified after ${elapsed.toFixed(1)} s, ` +
      `listed as ${d.state} (${d.attempts.length} attempt(s))`);
    console.log(`  receiver: ${rs.requests} request(s), ${rs.accepted} event(s) accepted (${events.length} handled), ` +
      `${rs.duplicates} duplicate(s), ${rs.rejected} refused`);
    console.log('\nOK: org webhook delivered, signed and verified');
  } finally {
    if (hookSet) {
      // Do not leave the org's webhook aiming at a receiver that is about to stop.
      const r = await webhookApi(env, 'DELETE', '').catch((err) => ({ status: err.message }));
      console.error(`(cleanup: DELETE …/webhook/ -> ${r.status})`);
    }
    receiver.closeAllConnections?.();
    await new Promise((resolve) => receiver.close(() => resolve()));
  }
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--listen') return listenMode(args[1]);
  if (args.length) die(`unknown arguments: ${args.join(' ')} (usage: node webhook-receiver.mjs [--listen PORT])`);
  return exampleMode();
}

runMain(import.meta.url, main);
