#!/usr/bin/env node
// The HeyGen documentation's "Complete Workflow Example" rewritten on HeyGen v3
// (docs/migrating-to-heygen-v3.md), run under Node 20.
//
// HeyGen retires v1/v2 after 2026-10-31. Discovery marks each v1/v2 action deprecated and
// names its v3 successor; this example first reads those successors for the actions the
// v2 workflow used, then runs the same workflow on them:
//
//   list-avatars  -> v3-list-avatar-looks   (a look's id is the avatar_id of a v3 video)
//   list-voices   -> v3-list-voices
//   generate-video -> v3-create-video        ({type: "avatar", avatar_id, voice_id, script})
//   video-status  -> v3-get-video           (the video_id moves from the query to the path)
//
// and downloads the finished MP4. It also checks that a deprecated call is answered with
// the Deprecation, Sunset and Link rel="successor-version" headers, and a v3 call without.
//
//   AIPROXY_URL=http://127.0.0.1:8080 AIPROXY_ORG=... AIPROXY_KEY=... node examples/heygen-v3-workflow.mjs
//
// Optional: SCRIPT (the text spoken in the video), POLL_INTERVAL_MS (default 1000), VERBOSE=1.
// `test: true` is not in HeyGen's v3 schema: the simulator honours it for a fast demo, the
// real API ignores or refuses it (set HEYGEN_TEST=0 to leave it out).

import { loadEnv, installFetchShim, getJSON, invokeRaw, invokeJSON, downloadMp4, runMain, step, assert, PREFIX } from './lib/env.mjs';

// The v2 workflow's actions and the successor each must have in discovery.
const MIGRATION = {
  'list-avatars': 'v3-list-avatar-looks',
  'list-voices': 'v3-list-voices',
  'generate-video': 'v3-create-video',
  'video-status': 'v3-get-video',
};

async function main() {
  const env = loadEnv();
  installFetchShim(env);
  console.log(`HeyGen v3 workflow against ${env.baseUrl} as org ${env.org}`);
  const script = process.env.SCRIPT || 'Hello! This video was made with the HeyGen v3 API.';
  const test = process.env.HEYGEN_TEST !== '0';

  step(1, 'discovery: the v1/v2 actions the workflow used, and their v3 successors');
  const heygen = await getJSON(env, '/services/heygen/');
  const bySlug = new Map(heygen.endpoints.map((e) => [e.slug, e]));
  const deprecated = heygen.endpoints.filter((e) => e.deprecated);
  console.log(`${deprecated.length} of ${heygen.endpoints.length} HeyGen actions are deprecated`);
  for (const [old, successor] of Object.entries(MIGRATION)) {
    const e = bySlug.get(old);
    assert(e, `discovery lists ${old}`);
    assert(e.deprecated === true, `${old} is deprecated`);
    assert(e.successor === successor, `${old}'s successor is ${successor} (discovery says ${e.successor})`);
    assert(bySlug.get(successor)?.deprecated === false, `${successor} is listed and current`);
    console.log(`  ${old.padEnd(15)} sunset ${e.sunset} -> ${e.successor}`);
  }

  step(2, 'a deprecated call carries Deprecation, Sunset and Link; a v3 call does not');
  const legacy = await invokeRaw(env, 'heygen', 'list-voices', {});
  await legacy.arrayBuffer();
  const link = legacy.headers.get('link') || '';
  console.log(`list-voices: Deprecation: ${legacy.headers.get('deprecation')}`);
  console.log(`             Sunset: ${legacy.headers.get('sunset')}`);
  console.log(`             Link: ${link}`);
  assert(/^@\d+$/.test(legacy.headers.get('deprecation') || ''), 'Deprecation is @<unix seconds> (RFC 9745)');
  assert(legacy.headers.get('sunset') === 'Sat, 31 Oct 2026 00:00:00 GMT', 'Sunset is 31 Oct 2026 (RFC 8594)');
  assert(link === `<${PREFIX}/orgs/${env.org}/services/heygen/v3-list-voices/>; rel="successor-version"`,
    'Link names v3-list-voices as the successor-version');

  step(3, 'v3-list-avatar-looks: a look to speak ({data: [...], has_more, next_token})');
  const looksAnswer = await invokeRaw(env, 'heygen', 'v3-list-avatar-looks', { query: { limit: 10 } });
  assert(!looksAnswer.headers.get('sunset') && !looksAnswer.headers.get('deprecation'), 'a v3 answer has no Sunset or Deprecation');
  const looks = (await looksAnswer.json()).data;
  assert(Array.isArray(looks) && looks.length > 0, 'v3-list-avatar-looks returned looks in data[]');
  const look = looks[0];
  console.log('Available looks:', looks.map((l) => l.name));

  step(4, 'v3-list-voices: a voice (the look\'s default voice, else the first listed)');
  const voices = (await invokeJSON(env, 'heygen', 'v3-list-voices', { query: { limit: 10 } })).data;
  assert(Array.isArray(voices) && voices.length > 0, 'v3-list-voices returned voices in data[]');
  console.log('Available voices:', voices.map((v) => v.name));
  const voiceId = look.default_voice_id || voices[0].voice_id;

  step(5, `v3-create-video: avatar ${look.id}, voice ${voiceId}`);
  const body = { type: 'avatar', avatar_id: look.id, voice_id: voiceId, script, resolution: '720p', aspect_ratio: '16:9' };
  if (test) body.test = true;
  const created = await invokeJSON(env, 'heygen', 'v3-create-video', { body });
  const videoId = created.data?.video_id;
  assert(typeof videoId === 'string' && videoId, `v3-create-video answered data.video_id (got ${JSON.stringify(created)})`);
  console.log('Video generation started. Video ID:', videoId);

  step(6, 'poll v3-get-video (path_params.video_id) until completed');
  let video;
  for (let i = 1; ; i++) {
    video = (await invokeJSON(env, 'heygen', 'v3-get-video', { path_params: { video_id: videoId } })).data;
    console.log(`Check ${i}: ${video.status}`);
    if (video.status === 'completed') break;
    if (video.status === 'failed') throw new Error(`video failed: ${video.failure_code}: ${video.failure_message}`);
    if (i >= 120) throw new Error('video generation timed out');
    await new Promise((resolve) => setTimeout(resolve, env.pollIntervalMs));
  }
  console.log('Video completed! URL:', video.video_url);

  step(7, 'download the video and check it is an MP4');
  const { bytes, contentType } = await downloadMp4(video.video_url);
  console.log(`Downloaded ${bytes.length} bytes (${contentType || 'no content type'}); bytes 4..8 = "ftyp": OK`);

  console.log('\nOK: HeyGen v3 workflow completed');
}

runMain(import.meta.url, main);
