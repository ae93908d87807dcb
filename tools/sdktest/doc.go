// Package sdktest runs a provider's official SDK, unchanged, against the shipped gateway:
// the ElevenLabs JavaScript SDK (tools/sdk-js, pinned there) with its base URL at the org's
// provider-native route (…/orgs/{org}/native/elevenlabs) and an aiproxy key as its API key,
// through text to speech, voice listing, speech to text and both realtime WebSockets,
// against the simulators. Its only content is the test (sdk_test.go); it needs Node.js and
// npm, named by AIPROXY_TEST_NODE, and skips without it.
package sdktest
