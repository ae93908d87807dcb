// Package browsertest runs the documented browser flows in a real browser against the
// shipped gateway, with a short-lived browser token: a page on another origin calls the
// gateway using the frontend functions of the public HeyGen documentation page unchanged
// (browser_test.go, testdata/page.html), and a page opens a realtime text-to-speech
// WebSocket session, decodes the MP3 it receives and plays it (realtime_test.go,
// testdata/realtime.html). It needs Chromium, named by AIPROXY_TEST_CHROMIUM, and skips
// without it.
package browsertest
