import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, client, firstVoiceId } from '../testing/env.mjs';
import { AiproxyClient, AiproxyError } from '../src/index.js';

test('typed errors: a 404 action', { skip }, async () => {
  const err = await client().invoke('heygen', 'no-such-action').then(() => null, (e) => e);
  assert.ok(err instanceof AiproxyError, String(err));
  assert.equal(err.name, 'AiproxyError');
  assert.equal(err.status, 404);
  assert.equal(err.detail, "Endpoint 'no-such-action' not found for external proxy service 'heygen'.");
  assert.equal(err.upstreamStatus, null);
  assert.match(err.message, /HTTP 404/);
});

test('typed errors: a 401 bad key', { skip }, async () => {
  const bad = client({ apiKey: 'aip_' + 'x'.repeat(43) });
  const err = await bad.listServices().then(() => null, (e) => e);
  assert.ok(err instanceof AiproxyError);
  assert.equal(err.status, 401);
  assert.equal(err.detail, 'Invalid token.');
});

test('typed errors: a malformed request (400, the `error` key)', { skip }, async () => {
  const err = await client().invoke('elevenlabs', 'get-voice', { path_params: {} }).then(() => null, (e) => e);
  assert.ok(err instanceof AiproxyError);
  assert.equal(err.status, 400);
  assert.equal(err.detail, 'Missing required path parameter: voice_id');
  assert.deepEqual(err.body, { error: 'Missing required path parameter: voice_id' });
});

test('typed errors: a provider refusal is 502 with upstream_status and upstream_body', { skip }, async () => {
  const c = client();
  const err = await c.invoke('elevenlabs', 'get-voice', { path_params: { voice_id: 'no-such-voice' } }).then(() => null, (e) => e);
  assert.ok(err instanceof AiproxyError);
  assert.equal(err.status, 502);
  assert.equal(err.detail, 'The upstream external service request failed.');
  assert.equal(err.upstreamStatus, 404);
  assert.ok(err.upstreamBody && typeof err.upstreamBody === 'object', JSON.stringify(err.upstreamBody));
  assert.ok(err.requestId, 'the X-Request-Id of the answer');
  assert.match(err.message, /upstream_status 404/);
  // The voice that exists works with the same client.
  const voice = await c.invoke('elevenlabs', 'get-voice', { path_params: { voice_id: await firstVoiceId(c) } });
  assert.ok(voice.voice_id);
});

// Offline: the fields from a 429 with Retry-After, through a fetch stand-in.
test('typed errors: retryAfter from a 429 (offline, a stand-in fetch)', async () => {
  const calls = [];
  const c = new AiproxyClient({
    baseUrl: 'http://gateway.test', org: 'acme', apiKey: 'k',
    fetch: async (url, init) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({
        detail: 'The upstream external service rate limit was exceeded.', upstream_status: 429, upstream_body: { detail: 'slow down' },
      }), { status: 429, headers: { 'Content-Type': 'application/json', 'Retry-After': '7', 'X-Request-Id': 'abc123' } });
    },
  });
  const err = await c.invoke('elevenlabs', 'tts', { path_params: { voice_id: 'v' } }).then(() => null, (e) => e);
  assert.ok(err instanceof AiproxyError);
  assert.equal(err.status, 429);
  assert.equal(err.retryAfter, 7);
  assert.equal(err.upstreamStatus, 429);
  assert.deepEqual(err.upstreamBody, { detail: 'slow down' });
  assert.equal(err.requestId, 'abc123');
  assert.equal(calls[0].url, 'http://gateway.test/api/ai-proxy/orgs/acme/services/elevenlabs/tts/');
  assert.equal(calls[0].init.headers.Authorization, 'Api-Key k');
  assert.equal(calls[0].init.method, 'POST');
});

test('a browser token is sent as Bearer (offline)', async () => {
  let auth;
  const c = new AiproxyClient({
    baseUrl: 'http://gateway.test/api/ai-proxy/', org: 'acme', apiKey: 'k',
    fetch: async (url, init) => { auth = init.headers.Authorization; return Response.json([]); },
  });
  const t = c.withToken('aip_tok');
  assert.equal(t.baseUrl, 'http://gateway.test');
  await t.listServices();
  assert.equal(auth, 'Bearer aip_tok');
});
