// Package browsertest runs the documented browser flow in a real browser: a page on
// another origin calls the shipped gateway with a short-lived browser token, using the
// frontend functions of the public HeyGen documentation page unchanged. Its only content
// is the test (browser_test.go) and the page it serves (testdata/page.html); it needs
// Chromium, named by AIPROXY_TEST_CHROMIUM, and skips without it.
package browsertest
