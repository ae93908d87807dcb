import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, client } from '../testing/env.mjs';

test('discovery: listServices, getService, discover', { skip }, async () => {
  const c = client();
  const list = await c.listServices();
  assert.ok(Array.isArray(list));
  const slugs = list.map((s) => s.slug);
  assert.ok(slugs.includes('heygen') && slugs.includes('elevenlabs'), `services: ${slugs}`);
  const el = await c.getService('elevenlabs');
  assert.equal(el.slug, 'elevenlabs');
  assert.ok(el.endpoints.some((e) => e.slug === 'tts'));
  const all = await c.discover();
  assert.deepEqual(all.map((s) => s.slug).sort(), [...slugs].sort());
  for (const s of all) assert.ok(Array.isArray(s.endpoints) && s.endpoints.length > 0, `${s.slug} has endpoints`);
});

test('findEndpoint by path_template + method', { skip }, async () => {
  const c = client();
  const tts = await c.findEndpoint('elevenlabs', '/v1/text-to-speech/{voice_id}', 'POST');
  assert.equal(tts?.slug, 'tts');
  assert.equal(tts.response_mode, 'passthrough');
  // The placeholder's name does not have to match the catalog's, nor the method's case.
  const stream = await c.findEndpoint('elevenlabs', '/v1/text-to-speech/{id}/stream', 'post');
  assert.equal(stream?.slug, 'tts-stream');
  const avatars = await c.findEndpoint('heygen', '/v2/avatars', 'GET');
  assert.equal(avatars?.slug, 'list-avatars');
  const voice = await c.findEndpoint('elevenlabs', '/v1/voices/{voice_id}', 'DELETE');
  assert.equal(voice?.slug, 'delete-voice');
  assert.equal(await c.findEndpoint('elevenlabs', '/v1/voices/{voice_id}', 'PUT'), null);
  assert.equal(await c.findEndpoint('heygen', '/v9/nothing', 'GET'), null);
});
