import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skip, client } from '../testing/env.mjs';
import { AiproxyClient, AiproxyError } from '../src/index.js';

test('browser tokens: mint with the key, use as Bearer, within its scopes', { skip }, async () => {
  const backend = client();
  const minted = await backend.mintBrowserToken({ scopes: ['heygen:list-*'], ttlSeconds: 120, name: 'js client test' });
  assert.match(minted.token, /^aip_/);
  assert.equal(minted.role, 'member');
  assert.deepEqual(minted.scopes, ['heygen:list-*']);
  assert.ok(Date.parse(minted.expires_at) > Date.now());

  // What a page does with it.
  const page = new AiproxyClient({ baseUrl: process.env.AIPROXY_URL, org: process.env.AIPROXY_ORG, token: minted.token });
  assert.equal(page.authorization, `Bearer ${minted.token}`);
  const services = await page.listServices();
  assert.deepEqual(services.map((s) => s.slug), ['heygen'], 'the token sees only what its scopes allow');
  const avatars = await page.invoke('heygen', 'list-avatars');
  assert.ok(avatars.data.avatars.length > 0);

  // Outside its scopes: 403; a token cannot mint another.
  const denied = await page.invoke('heygen', 'generate-video', { body: {} }).then(() => null, (e) => e);
  assert.ok(denied instanceof AiproxyError);
  assert.equal(denied.status, 403);
  const again = await page.mintBrowserToken().then(() => null, (e) => e);
  assert.ok(again instanceof AiproxyError);
  assert.equal(again.status, 403);

  // withToken: the same gateway and org.
  const same = backend.withToken(minted.token);
  assert.equal(same.authorization, `Bearer ${minted.token}`);
  assert.equal((await same.listServices()).length, 1);
});

test('browser tokens: a bad ttl is a 400 with the contract sentence', { skip }, async () => {
  const err = await client().mintBrowserToken({ ttlSeconds: 99999 }).then(() => null, (e) => e);
  assert.ok(err instanceof AiproxyError);
  assert.equal(err.status, 400);
  assert.equal(err.detail, "Field 'ttl_seconds' must be an integer from 1 to 3600.");
});
