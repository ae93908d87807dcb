// The official ElevenLabs JavaScript SDK (@elevenlabs/elevenlabs-js, pinned in package.json),
// unchanged, against aiproxy's provider-native route: its base URL is the gateway's
// …/orgs/{org}/native/elevenlabs and its API key is an aiproxy key, nothing else. Each step
// prints one line; the first failure exits 1 with the reason. tools/sdktest runs it against
// the shipped gateway in front of the simulators.
//
// Environment:
//   AIPROXY_URL       the gateway's origin, e.g. http://127.0.0.1:8080 (required unless
//                     ELEVENLABS_BASE_URL is set)
//   AIPROXY_ORG       the org's slug (required unless ELEVENLABS_BASE_URL is set)
//   AIPROXY_KEY       the aiproxy API key, given to the SDK as its apiKey (required)
//   ELEVENLABS_BASE_URL  overrides the base URL (e.g. the simulator itself, to compare)
//   OUT_DIR           where the speech is written (default: a new temporary directory)
//
// Steps: list voices (v2 search, v1 list), text to speech to an MP3 file, speech to text
// of that file, realtime speech to text with the SDK's own Scribe realtime client,
// realtime text to speech over the stream-input WebSocket, the user (whose key the
// provider echoes: masked), a provider refusal as the SDK's own error, and a wrong key
// refused. This
// SDK version has no client for the text-to-speech WebSocket, so that step uses the `ws`
// package the SDK itself depends on, with the URL and header the SDK's Scribe client would
// build: the base URL with ws(s):// and the key in xi-api-key.

import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

import { ElevenLabsClient, RealtimeEvents, AudioFormat, CommitStrategy } from "@elevenlabs/elevenlabs-js";
import WebSocket from "ws";

const STEP_TIMEOUT_MS = 30_000;

function fail(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}

function env(name) {
  const v = process.env[name];
  if (!v) fail(`environment variable ${name} is not set`);
  return v;
}

// describe renders an SDK error with its status and body, or any other error.
function describe(err) {
  if (err && err.statusCode !== undefined) {
    let body = err.body;
    try {
      body = typeof body === "string" ? body : JSON.stringify(body);
    } catch {}
    return `HTTP ${err.statusCode}: ${body}`;
  }
  return (err && (err.stack || err.message)) || String(err);
}

async function step(name, fn) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${STEP_TIMEOUT_MS / 1000} s`)), STEP_TIMEOUT_MS);
  });
  try {
    const detail = await Promise.race([fn(), timeout]);
    console.log(`ok   ${name}: ${detail}`);
  } catch (err) {
    fail(`${name}: ${describe(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// isMP3 reports whether b starts with an ID3 tag or an MPEG audio frame header.
function isMP3(b) {
  if (b.length >= 3 && b[0] === 0x49 && b[1] === 0x44 && b[2] === 0x33) return true; // "ID3"
  return b.length >= 2 && b[0] === 0xff && (b[1] & 0xe0) === 0xe0; // frame sync
}

const apiKey = env("AIPROXY_KEY");
const baseUrl =
  process.env.ELEVENLABS_BASE_URL ||
  `${env("AIPROXY_URL").replace(/\/+$/, "")}/api/ai-proxy/orgs/${encodeURIComponent(env("AIPROXY_ORG"))}/native/elevenlabs`;
const outDir = process.env.OUT_DIR || mkdtempSync(join(tmpdir(), "elevenlabs-sdk-"));
const wsBase = baseUrl.replace(/^http(s?):\/\//i, (_, s) => `ws${s}://`);

// maxRetries 0: a failure is reported as it happened, not retried into something else.
const client = new ElevenLabsClient({ apiKey, baseUrl, maxRetries: 0, timeoutInSeconds: 30 });
console.log(`SDK @elevenlabs/elevenlabs-js ${sdkVersion()} at ${baseUrl}`);

let voiceId;
await step("voices.search (GET /v2/voices)", async () => {
  const res = await client.voices.search({ pageSize: 10, includeTotalCount: true });
  assert(Array.isArray(res.voices), `no voices array in ${JSON.stringify(res)}`);
  const withId = res.voices.filter((v) => typeof v.voiceId === "string" && v.voiceId !== "");
  assert(withId.length > 0, `no voice with a voice_id in ${JSON.stringify(res).slice(0, 500)}`);
  voiceId = withId[0].voiceId;
  return `${res.voices.length} voices (total_count ${res.totalCount}, has_more ${res.hasMore}); first ${voiceId} "${withId[0].name}"`;
});

await step("voices.getAll (GET /v1/voices)", async () => {
  const res = await client.voices.getAll();
  assert(Array.isArray(res.voices) && res.voices.some((v) => v.voiceId === voiceId), `voice ${voiceId} not in the v1 listing`);
  return `${res.voices.length} voices`;
});

const mp3Path = join(outDir, "speech.mp3");
await step("textToSpeech.convert (POST /v1/text-to-speech/{voice_id}?output_format=mp3_44100_128)", async () => {
  const audio = await client.textToSpeech.convert(voiceId, {
    text: "The first move is what sets everything in motion.",
    modelId: "eleven_multilingual_v2",
    outputFormat: "mp3_44100_128",
  });
  await pipeline(Readable.fromWeb(audio), createWriteStream(mp3Path));
  const b = readFileSync(mp3Path);
  assert(b.length > 0, `${mp3Path} is empty`);
  assert(isMP3(b), `${mp3Path} does not start with an ID3 tag or an MP3 frame: ${b.subarray(0, 16).toString("hex")}`);
  return `${b.length} bytes of MP3 written to ${mp3Path}`;
});

await step("speechToText.convert (POST /v1/speech-to-text, multipart)", async () => {
  const file = new Blob([readFileSync(mp3Path)], { type: "audio/mpeg" });
  const res = await client.speechToText.convert({ file, modelId: "scribe_v2", languageCode: "en", timestampsGranularity: "word" });
  assert(typeof res.text === "string" && res.text.trim() !== "", `no text in ${JSON.stringify(res).slice(0, 500)}`);
  assert(Array.isArray(res.words) && res.words.length > 0, "no words");
  return `"${res.text}" (${res.languageCode}, ${res.words.length} words, transcription ${res.transcriptionId})`;
});

await step("speechToText.realtime.connect (WebSocket /v1/speech-to-text/realtime)", async () => {
  const connection = await client.speechToText.realtime.connect({
    modelId: "scribe_v2_realtime",
    audioFormat: AudioFormat.PCM_16000,
    sampleRate: 16000,
    commitStrategy: CommitStrategy.MANUAL,
    languageCode: "en",
  });
  return await new Promise((resolve, reject) => {
    let sessionId = "";
    let partials = 0;
    let settled = false;
    const done = (fn, v) => {
      if (settled) return;
      settled = true;
      fn(v);
    };
    connection.on(RealtimeEvents.SESSION_STARTED, (m) => {
      sessionId = m.session_id;
      const second = Buffer.alloc(16000 * 2); // one second of 16-bit silence at 16 kHz
      connection.send({ audioBase64: second.toString("base64") });
      connection.send({ audioBase64: second.toString("base64") });
      connection.commit();
    });
    connection.on(RealtimeEvents.PARTIAL_TRANSCRIPT, () => partials++);
    connection.on(RealtimeEvents.COMMITTED_TRANSCRIPT, (m) => {
      if (typeof m.text !== "string" || m.text.trim() === "") {
        done(reject, new Error(`committed_transcript without text: ${JSON.stringify(m)}`));
      } else {
        done(resolve, `session ${sessionId}: ${partials} partial transcripts, committed "${m.text}"`);
      }
      connection.close();
    });
    connection.on(RealtimeEvents.ERROR, (e) => done(reject, new Error(`error: ${e && e.message_type ? JSON.stringify(e) : describe(e)}`)));
    connection.on(RealtimeEvents.CLOSE, () => done(reject, new Error("the socket closed before a committed transcript")));
  });
});

await step("realtime text to speech (ws, WebSocket /v1/text-to-speech/{voice_id}/stream-input)", async () => {
  const url = `${wsBase}/v1/text-to-speech/${encodeURIComponent(voiceId)}/stream-input?model_id=eleven_flash_v2_5&output_format=mp3_44100_128`;
  const ws = new WebSocket(url, { headers: { "xi-api-key": apiKey } });
  return await new Promise((resolve, reject) => {
    const chunks = [];
    let final = false;
    ws.on("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => reject(new Error(`handshake refused: HTTP ${res.statusCode}: ${body}`)));
    });
    ws.on("error", reject);
    ws.on("open", () => {
      ws.send(JSON.stringify({ text: " ", voice_settings: { stability: 0.5, similarity_boost: 0.8 } }));
      ws.send(JSON.stringify({ text: "Hello from the official SDK's WebSocket, through the gateway. " }));
      ws.send(JSON.stringify({ text: "", flush: true }));
    });
    ws.on("message", (data, isBinary) => {
      if (isBinary) return reject(new Error("a binary message; stream-input answers JSON text"));
      let m;
      try {
        m = JSON.parse(data.toString());
      } catch (e) {
        return reject(new Error(`a message that is not JSON: ${data.toString().slice(0, 200)}`));
      }
      if (m.audio) chunks.push(Buffer.from(m.audio, "base64"));
      if (m.isFinal) final = true;
    });
    ws.on("close", (code, reason) => {
      const audio = Buffer.concat(chunks);
      if (!final) return reject(new Error(`closed (${code} ${reason}) before the final message`));
      if (audio.length === 0) return reject(new Error(`closed (${code}) with no audio`));
      if (!isMP3(audio)) return reject(new Error(`the audio does not start with an MP3 frame: ${audio.subarray(0, 16).toString("hex")}`));
      const path = join(outDir, "stream-input.mp3");
      writeFileSync(path, audio);
      resolve(`${chunks.length} audio messages, ${audio.length} bytes of MP3, final message, closed ${code}`);
    });
  });
});

await step("user.get (GET /v1/user): the provider's key is never shown", async () => {
  const user = await client.user.get();
  assert(typeof user.userId === "string" && user.subscription && typeof user.subscription.characterCount === "number",
    `unexpected user ${JSON.stringify(user)}`);
  // The provider echoes its key in xi_api_key: what reaches the SDK is printed, and
  // tools/sdktest checks that the provider key is nowhere in this script's output.
  return `user ${user.userId}, tier ${user.subscription.tier}, ${user.subscription.characterCount} characters used, xi_api_key ${JSON.stringify(user.xiApiKey)}`;
});

await step("a provider refusal is the SDK's own error (404 voice_not_found)", async () => {
  try {
    await client.textToSpeech.convert("no-such-voice", { text: "hi", modelId: "eleven_multilingual_v2" });
  } catch (err) {
    assert(err.statusCode === 404, `want HTTP 404, got ${describe(err)}`);
    const body = typeof err.body === "string" ? err.body : JSON.stringify(err.body);
    assert(body.includes("voice_not_found"), `want the provider's body, got ${body}`);
    return `HTTP 404 ${body}`;
  }
  throw new Error("text to speech with an unknown voice succeeded");
});

await step("a key the gateway does not know is refused (401)", async () => {
  const stranger = new ElevenLabsClient({ apiKey: "invalid-not-an-aiproxy-key", baseUrl, maxRetries: 0, timeoutInSeconds: 30 });
  try {
    await stranger.voices.search();
  } catch (err) {
    assert(err.statusCode === 401, `want HTTP 401, got ${describe(err)}`);
    return `HTTP 401 ${JSON.stringify(err.body)}`;
  }
  throw new Error("voices.search with an unknown key succeeded");
});

console.log("PASS: the official SDK worked unchanged through the native route");
process.exit(0);

function sdkVersion() {
  try {
    const pkg = new URL("./node_modules/@elevenlabs/elevenlabs-js/package.json", import.meta.url);
    return JSON.parse(readFileSync(pkg, "utf8")).version;
  } catch {
    return "(unknown version)";
  }
}

