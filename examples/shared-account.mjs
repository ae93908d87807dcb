#!/usr/bin/env node
// Two orgs sharing the platform's provider account, kept apart by the proxy:
//   an operator makes orgs alpha-<suffix> and beta-<suffix> that use the platform-wide
//   (shared) HeyGen and ElevenLabs keys, and an admin key for each; then
//   - alpha generates a HeyGen video; beta can neither read its status nor delete it (404),
//     and beta's list-videos does not show it while alpha's does;
//   - an action on the whole account (get-remaining-quota) is 403 for beta;
//   - generate-video sent twice with the same Idempotency-Key runs once: the same
//     video_id, the second answer marked Idempotent-Replayed: true;
//   - the operator gives beta an ElevenLabs budget of characters; beta's tts calls succeed,
//     X-Budget-Remaining-Characters counting down, until a 402 says the budget is used up;
//   - the usage of both orgs.
// Every step is checked: the program exits non-zero with a FAILED: line on any deviation.
//
//   AIPROXY_URL=... AIPROXY_OPERATOR_KEY=... node examples/shared-account.mjs
//
// The demo server (go run ./cmd/aiproxy demo) prints both variables and sets the platform
// credentials. Optional: ORG_SUFFIX (default: random, so that every run makes new orgs;
// with a suffix used before, the orgs are reused), POLL_INTERVAL_MS (default 1000),
// POLL_MAX_ATTEMPTS (default 60), REQUEST_TIMEOUT_MS, VERBOSE=1.
// Against a real account this spends a few hundred ElevenLabs characters; the HeyGen
// videos use test mode.

import { randomBytes } from 'node:crypto';
import {
  loadOperatorEnv, PREFIX, authHeaders, describeErrorBody, looksLikeMp3, hex, runMain, step, assert, die,
} from './lib/env.mjs';

let env; // loadOperatorEnv(), in main
const verbose = !!process.env.VERBOSE;

// ---- HTTP ------------------------------------------------------------------------------

/** One request to the proxy: {status, headers, bytes, text, json} (json when the answer is JSON). */
async function request(key, method, path, { body, headers = {} } = {}) {
  const url = `${env.baseUrl}${PREFIX}${path}`;
  const init = { method, headers: { ...authHeaders(key), Accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  if (env.requestTimeoutMs > 0) init.signal = AbortSignal.timeout(env.requestTimeoutMs);
  if (verbose) console.error(`[fetch] ${method} ${url}`);
  let res;
  try {
    res = await fetch(url, init);
  } catch (err) {
    const why = err?.cause?.code || err?.cause?.message || err?.message || String(err);
    throw new Error(`${method} ${url}: network error (${why})`, { cause: err });
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  const type = res.headers.get('content-type') || '';
  const text = type.includes('json') || type.startsWith('text/') ? Buffer.from(bytes).toString('utf8') : '';
  let json;
  if (type.includes('json')) {
    try { json = JSON.parse(text); } catch { /* left undefined */ }
  }
  return { method, path, status: res.status, headers: res.headers, bytes, text, json };
}

/** Throw unless the answer has the expected status; return it. */
function expect(r, want, what) {
  if (r.status !== want) {
    throw new Error(`${what}: expected HTTP ${want}, got ${r.status} (${r.method} ${PREFIX}${r.path}): ` +
      describeErrorBody(r.text || `${r.bytes.length} bytes`));
  }
  return r;
}

/** POST an invoke envelope as the holder of key. */
function invoke(key, org, service, action, envelope = {}, headers = {}) {
  return request(key, 'POST', `/orgs/${org}/services/${service}/${action}/`, { body: envelope, headers });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the operator's setup --------------------------------------------------------------

let op; // the operator key
const services = ['heygen', 'elevenlabs'];

/** GET the org, or create it (POST …/orgs/). Returns true when it was created. */
async function ensureOrg(slug, name) {
  const got = await request(op, 'GET', `/orgs/${slug}/`);
  if (got.status === 200) return false;
  if (got.status === 401 || got.status === 403) {
    throw new Error(`GET /orgs/${slug}/ answered ${got.status} (${describeErrorBody(got.text)}): ` +
      'AIPROXY_OPERATOR_KEY must be a valid operator key');
  }
  expect(got, 404, `GET /orgs/${slug}/`);
  const made = await request(op, 'POST', '/orgs/', { body: { slug, name } });
  if (made.status === 409) return false; // made meanwhile by another run
  expect(made, 201, `create org ${slug}`);
  return true;
}

/** The org uses the platform's key for every service, and may not reach the whole account. */
async function useSharedAccount(slug) {
  for (const svc of services) {
    const r = expect(await request(op, 'PUT', `/orgs/${slug}/services/${svc}/settings/`, {
      body: {
        credential_policy: { allow_tenant_key: false, allow_platform_key: true, default_source: 'platform', fallback_to_platform_key: false },
        account_actions: 'refuse',
      },
    }), 200, `set the ${svc} settings of ${slug}`);
    const p = r.json?.credential_policy;
    assert(p?.allow_platform_key === true && p?.default_source === 'platform',
      `${slug}'s ${svc} policy in force uses the platform key (got ${JSON.stringify(p)})`);
    assert(r.json?.account_actions === 'refuse', `${slug}'s ${svc} account actions are refused (got ${JSON.stringify(r.json?.account_actions)})`);
  }
}

/** A new admin key of the org (shown once). */
async function adminKey(slug) {
  const r = expect(await request(op, 'POST', `/orgs/${slug}/keys/`, {
    body: { name: 'shared-account example', role: 'admin' },
  }), 201, `create an admin key of ${slug}`);
  assert(typeof r.json?.key === 'string' && r.json.key, `the new key of ${slug} is in "key"`);
  return { key: r.json.key, prefix: r.json.prefix };
}

/** Characters the org spent on ElevenLabs this month (UTC), as its usage says. */
async function charactersThisMonth(slug) {
  const from = new Date().toISOString().slice(0, 8) + '01';
  const r = expect(await request(op, 'GET', `/orgs/${slug}/usage/?group_by=service&from=${from}`), 200, `usage of ${slug}`);
  const row = (r.json?.results || []).find((x) => x.service === 'elevenlabs');
  return row?.units?.characters || 0;
}

// ---- the program -----------------------------------------------------------------------

async function main() {
  env = loadOperatorEnv();
  op = env.operatorKey;
  const suffix = process.env.ORG_SUFFIX || randomBytes(3).toString('hex');
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(suffix) || suffix.length > 50) {
    die(`ORG_SUFFIX must be lowercase letters and digits with inner hyphens (at most 50), got ${JSON.stringify(suffix)}`);
  }
  const alpha = { slug: `alpha-${suffix}`, name: 'Alpha (shared-account example)' };
  const beta = { slug: `beta-${suffix}`, name: 'Beta (shared-account example)' };
  const pollMax = Number(process.env.POLL_MAX_ATTEMPTS || 60);
  console.log(`Shared provider account against ${env.baseUrl}: orgs ${alpha.slug} and ${beta.slug}`);

  step(1, 'operator: the platform-wide provider keys are set');
  for (const svc of services) {
    const r = await request(op, 'GET', `/platform-credentials/${svc}/`);
    if (r.status === 404) {
      throw new Error(`there is no platform credential for ${svc}: an operator must first ` +
        `PUT ${PREFIX}/platform-credentials/${svc}/ {"key": "..."} (the demo sets one)`);
    }
    if (r.status === 401 || r.status === 403) {
      throw new Error(`GET /platform-credentials/${svc}/ answered ${r.status} (${describeErrorBody(r.text)}): ` +
        'AIPROXY_OPERATOR_KEY must be a valid operator key');
    }
    expect(r, 200, `platform credential ${svc}`);
    assert(r.json?.source === 'platform', `the ${svc} credential is the platform's (got ${JSON.stringify(r.json?.source)})`);
    console.log(`  ${svc.padEnd(10)} platform key ${r.json.key} (only a masked view is ever shown)`);
  }

  step(2, 'operator: two orgs on the shared account, an admin key for each');
  for (const o of [alpha, beta]) {
    const created = await ensureOrg(o.slug, o.name);
    await useSharedAccount(o.slug);
    Object.assign(o, await adminKey(o.slug));
    console.log(`  ${o.slug.padEnd(14)} ${created ? 'created' : 'exists, reused'}; heygen and elevenlabs: ` +
      `credential_policy default_source "platform", account_actions "refuse"; admin key ${o.prefix}…`);
  }

  step(3, 'alpha generates a HeyGen video (generate-video, test: true)');
  const avatars = expect(await invoke(alpha.key, alpha.slug, 'heygen', 'list-avatars'), 200, 'alpha list-avatars').json?.data?.avatars;
  const voices = expect(await invoke(alpha.key, alpha.slug, 'heygen', 'list-voices'), 200, 'alpha list-voices').json?.data?.voices;
  const avatarId = process.env.AVATAR_ID || avatars?.[0]?.avatar_id;
  const voiceId = process.env.HEYGEN_VOICE_ID || voices?.[0]?.voice_id;
  assert(avatarId && voiceId, 'list-avatars and list-voices give an avatar and a voice');
  const videoBody = (script) => ({
    body: {
      test: true,
      video_inputs: [{
        character: { type: 'avatar', avatar_id: avatarId, avatar_style: 'normal' },
        voice: { type: 'text', input_text: script, voice_id: voiceId },
      }],
      dimension: { width: 1280, height: 720 },
    },
  });
  const gen = expect(await invoke(alpha.key, alpha.slug, 'heygen', 'generate-video', videoBody('Hello from alpha.')), 200, 'alpha generate-video');
  const videoId = gen.json?.data?.video_id;
  assert(typeof videoId === 'string' && videoId, `generate-video returns data.video_id (got ${gen.text.slice(0, 200)})`);
  console.log(`  alpha's video: ${videoId}`);
  let status;
  for (let i = 1; i <= pollMax; i++) {
    const s = expect(await invoke(alpha.key, alpha.slug, 'heygen', 'video-status', { query: { video_id: videoId } }), 200, 'alpha video-status');
    status = s.json?.data?.status;
    console.log(`  alpha video-status #${i}: ${status}`);
    if (status === 'completed' || status === 'failed') break;
    await sleep(env.pollIntervalMs);
  }
  assert(status === 'completed', `alpha's video completes (last status ${JSON.stringify(status)})`);

  step(4, "beta cannot reach alpha's video");
  const bStatus = expect(await invoke(beta.key, beta.slug, 'heygen', 'video-status', { query: { video_id: videoId } }), 404, "beta video-status of alpha's video");
  console.log(`  beta video-status  -> ${bStatus.status} ${bStatus.text}`);
  const bDelete = expect(await invoke(beta.key, beta.slug, 'heygen', 'delete-video', { query: { video_id: videoId } }), 404, "beta delete-video of alpha's video");
  console.log(`  beta delete-video  -> ${bDelete.status} ${bDelete.text}`);
  const still = expect(await invoke(alpha.key, alpha.slug, 'heygen', 'video-status', { query: { video_id: videoId } }), 200, 'alpha video-status after beta tried to delete it');
  assert(still.json?.data?.status === 'completed', `alpha's video is still there (status ${JSON.stringify(still.json?.data?.status)})`);
  console.log(`  alpha video-status -> 200 ${still.json.data.status}: the video was not deleted`);

  const listed = async (o) => {
    const r = expect(await invoke(o.key, o.slug, 'heygen', 'list-videos', { query: { limit: 100 } }), 200, `${o.slug.split('-')[0]} list-videos`);
    const videos = r.json?.data?.videos;
    assert(Array.isArray(videos), `list-videos answers data.videos (got ${r.text.slice(0, 200)})`);
    return { ids: videos.map((v) => v.video_id), token: r.json.data.token };
  };
  const aList = await listed(alpha);
  const bList = await listed(beta);
  console.log(`  alpha list-videos: ${aList.ids.length} video(s) [${aList.ids.join(', ')}]`);
  console.log(`  beta  list-videos: ${bList.ids.length} video(s) [${bList.ids.join(', ')}]`);
  assert(aList.ids.includes(videoId), "alpha's list-videos shows alpha's video");
  assert(!bList.ids.includes(videoId), "beta's list-videos does not show alpha's video");
  assert(bList.token === undefined, `beta's list has no pagination token that would reveal other orgs' items (got ${JSON.stringify(bList.token)})`);

  step(5, 'an action on the whole account is refused on the shared key');
  const quota = expect(await invoke(beta.key, beta.slug, 'heygen', 'get-remaining-quota'), 403, 'beta get-remaining-quota');
  console.log(`  beta get-remaining-quota -> ${quota.status} ${quota.text}`);
  assert(typeof quota.json?.detail === 'string', 'the 403 has a "detail" sentence');

  step(6, 'alpha sends generate-video twice with the same Idempotency-Key');
  const idemKey = `shared-account-${suffix}-${randomBytes(6).toString('hex')}`;
  const envelope = videoBody('Hello again from alpha, once only.');
  const first = expect(await invoke(alpha.key, alpha.slug, 'heygen', 'generate-video', envelope, { 'Idempotency-Key': idemKey }), 200, 'first idempotent generate-video');
  const second = expect(await invoke(alpha.key, alpha.slug, 'heygen', 'generate-video', envelope, { 'Idempotency-Key': idemKey }), 200, 'second idempotent generate-video');
  const id1 = first.json?.data?.video_id;
  const id2 = second.json?.data?.video_id;
  console.log(`  first:  video_id ${id1}, Idempotent-Replayed: ${first.headers.get('idempotent-replayed') ?? '(absent)'}`);
  console.log(`  second: video_id ${id2}, Idempotent-Replayed: ${second.headers.get('idempotent-replayed')}`);
  assert(typeof id1 === 'string' && id1 && id1 !== videoId, 'the first request made a new video');
  assert(id2 === id1, `the second answer has the same video_id (${id1} vs ${id2})`);
  assert(first.headers.get('idempotent-replayed') === null, 'the first answer is not marked replayed');
  assert(second.headers.get('idempotent-replayed') === 'true', 'the second answer has Idempotent-Replayed: true');

  step(7, 'operator: an ElevenLabs budget of characters for beta; beta speaks until it is used up');
  const base = await charactersThisMonth(beta.slug); // 0 for a new org
  const room = 100;
  const limit = base + room;
  const budget = expect(await request(op, 'PUT', `/orgs/${beta.slug}/budgets/elevenlabs/`, {
    body: { period: 'month', limits: { characters: limit } },
  }), 200, "set beta's elevenlabs budget");
  assert(budget.json?.limits?.characters === limit && budget.json?.period === 'month', `the budget is stored (got ${budget.text})`);
  console.log(`  PUT /orgs/${beta.slug}/budgets/elevenlabs/ -> ${budget.text}` +
    (base ? `  (${base} characters were already spent this month)` : ''));
  const voices11 = expect(await invoke(beta.key, beta.slug, 'elevenlabs', 'list-voices'), 200, 'beta elevenlabs list-voices').json?.voices;
  const voice11 = process.env.VOICE_ID || voices11?.[0]?.voice_id;
  assert(voice11, 'elevenlabs list-voices gives a voice');
  const size = 30;
  const tts = (key, org, n) => {
    const text = `Budgeted speech number ${n}.`.padEnd(size, '.');
    assert(text.length === size, `the text has ${size} characters`);
    return invoke(key, org, 'elevenlabs', 'tts', { path_params: { voice_id: voice11 }, body: { text, model_id: 'eleven_multilingual_v2' } });
  };
  let refused;
  const remaining = [];
  for (let n = 1; n <= 10 && !refused; n++) {
    const r = await tts(beta.key, beta.slug, n);
    const left = r.headers.get('x-budget-remaining-characters');
    if (r.status === 402) {
      refused = r;
      console.log(`  tts #${n} (${size} characters) -> 402, X-Budget-Remaining-Characters: ${left}\n    ${r.text}`);
      break;
    }
    expect(r, 200, `beta tts #${n}`);
    assert(looksLikeMp3(r.bytes), `tts #${n} answers MP3 audio (first bytes ${hex(r.bytes)})`);
    console.log(`  tts #${n} (${size} characters) -> 200, ${r.bytes.length} bytes of audio, X-Budget-Remaining-Characters: ${left}`);
    remaining.push(left === null ? null : Number(left));
  }
  const want = Math.floor(room / size); // calls that fit
  assert(refused, `a tts call is refused with 402 once the ${room} characters are spent`);
  assert(remaining.length === want, `${want} tts calls of ${size} characters fit in ${room} (got ${remaining.length})`);
  remaining.forEach((left, i) => {
    assert(left === room - size * (i + 1), `X-Budget-Remaining-Characters after call ${i + 1} is ${room - size * (i + 1)} (got ${left})`);
  });
  const b = refused.json || {};
  const now = new Date();
  const resets = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString().replace('.000Z', 'Z');
  const wantBody = {
    detail: `The elevenlabs budget of ${limit} characters per month is used up.`,
    unit: 'characters', limit, used: base + size * want, requested: size, resets_at: resets,
  };
  for (const [k, v] of Object.entries(wantBody)) {
    assert(b[k] === v, `the 402 body's ${k} is ${JSON.stringify(v)} (got ${JSON.stringify(b[k])})`);
  }
  const leftAt402 = refused.headers.get('x-budget-remaining-characters');
  assert(leftAt402 === String(room - size * want), `X-Budget-Remaining-Characters on the 402 is ${room - size * want} (got ${leftAt402})`);
  const alphaTts = expect(await tts(alpha.key, alpha.slug, 1), 200, 'alpha tts (no budget)');
  console.log(`  alpha tts -> ${alphaTts.status}, no X-Budget-Remaining-Characters (${alphaTts.headers.get('x-budget-remaining-characters')}): alpha has no budget`);
  assert(alphaTts.headers.get('x-budget-remaining-characters') === null, 'alpha, without a budget, gets no budget headers');

  step(8, 'usage of both orgs (GET /orgs/{org}/usage/?group_by=service,action)');
  // Usage is written about once a second: wait until it shows this run's calls.
  const usage = async (o) => expect(await request(op, 'GET', `/orgs/${o.slug}/usage/?group_by=service,action`), 200, `usage of ${o.slug}`).json?.results || [];
  const row = (rows, service, action) => rows.find((r) => r.service === service && r.action === action);
  let aRows;
  let bRows;
  for (let i = 0; i < 50; i++) {
    [aRows, bRows] = [await usage(alpha), await usage(beta)];
    const ag = row(aRows, 'heygen', 'generate-video');
    const at = row(aRows, 'elevenlabs', 'tts');
    const bt = row(bRows, 'elevenlabs', 'tts');
    const bq = row(bRows, 'heygen', 'get-remaining-quota');
    if (ag?.replayed >= 1 && at?.calls >= 1 && bt?.refused >= 1 && bt?.calls >= want && bq?.refused >= 1) break;
    await sleep(200);
  }
  for (const [o, rows] of [[alpha, aRows], [beta, bRows]]) {
    console.log(`\n  ${o.slug}`);
    console.log(`    ${'service'.padEnd(11)} ${'action'.padEnd(20)} calls billable failed refused replayed  requests characters seconds`);
    for (const r of rows) {
      const u = r.units || {};
      console.log(`    ${r.service.padEnd(11)} ${r.action.padEnd(20)} ${String(r.calls).padStart(5)} ${String(r.billable_calls).padStart(8)} ` +
        `${String(r.failed_calls).padStart(6)} ${String(r.refused).padStart(7)} ${String(r.replayed).padStart(8)}  ` +
        `${String(u.requests || 0).padStart(8)} ${String(u.characters || 0).padStart(10)} ${String(u.seconds || 0).padStart(7)}`);
    }
  }
  const ag = row(aRows, 'heygen', 'generate-video');
  assert(ag && ag.calls >= 2 && ag.replayed >= 1, `alpha's usage counts generate-video calls and the replay (got ${JSON.stringify(ag)})`);
  const bt = row(bRows, 'elevenlabs', 'tts');
  assert(bt && bt.units?.characters >= size * want && bt.refused >= 1,
    `beta's usage counts the tts characters and the refused call (got ${JSON.stringify(bt)})`);
  assert(!row(bRows, 'heygen', 'generate-video'), "beta's usage has none of alpha's calls");

  console.log(`\nOK: ${alpha.slug} and ${beta.slug} share the platform's account and stay apart`);
}

runMain(import.meta.url, main);
