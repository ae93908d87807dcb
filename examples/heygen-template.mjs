#!/usr/bin/env node
// The HeyGen template flow with the documentation's functions:
//   listTemplates -> first template -> get-template (path_params.template_id)
//   -> generateTemplateVideo -> pollVideoStatus until completed -> download.
//
//   AIPROXY_URL=... AIPROXY_ORG=... AIPROXY_KEY=... node examples/heygen-template.mjs
//
// Optional: POLL_INTERVAL_MS (default 1000), POLL_MAX_ATTEMPTS (default 60),
// TEMPLATE_ID (instead of the first template), SCRIPT, VERBOSE=1.

import { loadEnv, installFetchShim, invokeJSON, downloadMp4, runMain, step, assert } from './lib/env.mjs';
import { listTemplates, generateTemplateVideo, pollVideoStatus } from './lib/heygen-docs.mjs';

async function main() {
  const env = loadEnv();
  installFetchShim(env);
  const maxAttempts = Number(process.env.POLL_MAX_ATTEMPTS || 60);
  console.log(`HeyGen template flow against ${env.baseUrl} as org ${env.org}`);

  step(1, 'listTemplates (list-templates)');
  const templates = await listTemplates(env.org, env.apiKey);
  assert(Array.isArray(templates), 'data.templates is an array');
  console.log(`${templates.length} template(s):`, templates.map((t) => `${t.name} [${t.template_id}]`));
  let templateId = process.env.TEMPLATE_ID;
  if (!templateId) {
    assert(templates.length > 0, 'the account has at least one template');
    templateId = templates[0].template_id;
  }
  assert(typeof templateId === 'string' && templateId, 'the template has a template_id');
  console.log('Using template', templateId);

  step(2, 'get-template with path_params.template_id');
  const detail = await invokeJSON(env, 'heygen', 'get-template', { path_params: { template_id: templateId } });
  const variables = detail?.data?.variables;
  assert(variables && typeof variables === 'object', 'get-template returns data.variables');
  const names = Object.keys(variables);
  console.log('Template variables:', names.map((n) => `${n} (${variables[n]?.type ?? '?'})`).join(', ') || '(none)');
  if (!names.includes('script')) {
    console.log("Note: the documentation's generateTemplateVideo fills a variable named 'script'; this template has none.");
  }

  step(3, 'generateTemplateVideo (generate-template-video, test: true)');
  const script = process.env.SCRIPT || 'Hello, this is a test video from a template.';
  const videoId = await generateTemplateVideo(env.org, env.apiKey, templateId, script);
  assert(videoId, 'generate-template-video returned data.video_id');
  console.log('Video generation started. Video ID:', videoId);

  step(4, `pollVideoStatus every ${env.pollIntervalMs} ms (video-status)`);
  const videoUrl = await pollVideoStatus(env.org, env.apiKey, videoId, maxAttempts, env.pollIntervalMs);
  console.log('Video completed! URL:', videoUrl);

  step(5, 'download the video and check it is an MP4');
  const { bytes } = await downloadMp4(videoUrl);
  console.log(`Downloaded ${bytes.length} bytes; bytes 4..8 = "ftyp": OK`);

  console.log('\nOK: HeyGen template flow completed');
}

runMain(import.meta.url, main);
