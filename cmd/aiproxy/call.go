package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// `aiproxy call` is a client of a running gateway (docs/cli.md): it invokes one action as
// the org of AIPROXY_URL, AIPROXY_ORG and AIPROXY_KEY, over plain net/http.

// Exit statuses of `aiproxy call` besides 0 and the usage errors' 2.
const (
	exitCallFailed = 1 // an error answer, no answer, or a binary answer for a terminal
	exitJobFailed  = 3 // --wait: the job ended failed
)

// callError is a failed call: exitCode prints "aiproxy call: " and msg, and exits with code.
type callError struct {
	code int
	msg  string
}

func (e *callError) Error() string { return "call: " + e.msg }

func callFailed(format string, args ...any) error {
	return &callError{exitCallFailed, fmt.Sprintf(format, args...)}
}

// caller talks to one gateway as one org.
type caller struct {
	api, org, key string // api: the URL with its prefix (…/api/ai-proxy)
	client        *http.Client
	stderr        io.Writer // progress and spinners; nil when stderr is not a terminal
}

// callFile is one --file: a multipart file part.
type callFile struct {
	field, path, contentType string
	f                        *os.File
	size                     int64
}

func cmdCall(ctx context.Context, sio stdio, args []string) error {
	fs := newFlags("call")
	body := fs.String("body", "", "the provider's request body: JSON, @FILE, or - for stdin")
	var query, headers, paths, files multiFlag
	fs.Var(&query, "query", "an upstream query parameter k=v (repeatable; repeated keys make a list)")
	fs.Var(&headers, "header", "an upstream header k=v (repeatable)")
	fs.Var(&paths, "path", "a path parameter k=v (repeatable)")
	fs.Var(&files, "file", "a file part field=@PATH[;type=MIME] (repeatable; sends a multipart envelope)")
	out := fs.String("out", "", "write the answer to this file")
	wait := fs.Bool("wait", false, "wait for the job the action created and print its final view")
	apiURL := fs.String("url", sio.getenv("AIPROXY_URL"), "the gateway's URL (AIPROXY_URL)")
	org := fs.String("org", sio.getenv("AIPROXY_ORG"), "the org's slug (AIPROXY_ORG)")
	key := fs.String("key", sio.getenv("AIPROXY_KEY"), "an API key of the org (AIPROXY_KEY)")
	idem := fs.String("idempotency-key", "", "send this Idempotency-Key")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("call: want SERVICE ACTION, got %d arguments", len(pos))
	}
	var missing []string
	for _, v := range []struct{ name, val string }{{"AIPROXY_URL", *apiURL}, {"AIPROXY_ORG", *org}, {"AIPROXY_KEY", *key}} {
		if v.val == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return usagef("call: set %s (or --url, --org, --key)", strings.Join(missing, ", "))
	}
	api, err := apiBase(*apiURL)
	if err != nil {
		return err
	}
	env := map[string]any{}
	if *body != "" {
		raw, err := readBodyFlag(*body, sio.stdin)
		if err != nil {
			return err
		}
		env["body"] = raw
	}
	q := map[string]any{}
	for _, kv := range query {
		k, v, err := splitKV("--query", kv)
		if err != nil {
			return err
		}
		switch old := q[k].(type) {
		case nil:
			q[k] = v
		case string:
			q[k] = []string{old, v}
		case []string:
			q[k] = append(old, v)
		}
	}
	for _, o := range []struct {
		flag, key string
		list      multiFlag
	}{{"--header", "headers", headers}, {"--path", "path_params", paths}} {
		m := map[string]string{}
		for _, kv := range o.list {
			k, v, err := splitKV(o.flag, kv)
			if err != nil {
				return err
			}
			m[k] = v
		}
		if len(m) > 0 {
			env[o.key] = m
		}
	}
	if len(q) > 0 {
		env["query"] = q
	}
	var parts []*callFile
	for _, spec := range files {
		cf, err := openCallFile(spec)
		if err != nil {
			return err
		}
		defer cf.f.Close()
		parts = append(parts, cf)
	}

	c := &caller{api: api, org: *org, key: *key, client: &http.Client{}}
	if isTerminal(sio.stderr) {
		c.stderr = sio.stderr
	}
	reqID := callRequestID()
	resp, err := c.invoke(ctx, pos[0], pos[1], env, parts, reqID, *idem)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answerError(resp)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	isJSON := ct == "application/json" || strings.HasSuffix(ct, "+json")
	switch {
	case *wait:
		if !isJSON {
			return callFailed("--wait: the answer is %s, not a JSON answer naming a job", orUnknown(ct))
		}
		answer, err := io.ReadAll(resp.Body)
		if err != nil {
			return callFailed("reading the answer: %v", err)
		}
		return c.waitJob(ctx, sio.stdout, pos[0], reqID, answer)
	case *out != "":
		return c.download(resp, *out)
	case isJSON:
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return callFailed("reading the answer: %v", err)
		}
		return printAnswerJSON(sio.stdout, b)
	case strings.HasPrefix(ct, "text/") || ct == "application/x-ndjson":
		// Text, event streams included: copied as it arrives.
		return copyAnswer(flushWriter{sio.stdout}, resp.Body, nil)
	case isTerminal(sio.stdout):
		return callFailed("the answer is %s (%s), not shown on a terminal: give --out FILE, or pipe the output",
			orUnknown(ct), sizeText(resp.ContentLength))
	default:
		return copyAnswer(flushWriter{sio.stdout}, resp.Body, c.bar("download", resp.ContentLength))
	}
}

// apiBase is the URL the routes hang from: AIPROXY_URL with the default prefix when it has
// no path, or as it is when it names one (a deployment with another --prefix).
func apiBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("call: AIPROXY_URL %q: want http(s)://HOST[:PORT][/PREFIX]", raw)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/api/ai-proxy"
	}
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimSuffix(u.String(), "/"), nil
}

// readBodyFlag reads --body: JSON text, @FILE, or - (stdin); it must be JSON.
func readBodyFlag(v string, stdin io.Reader) (json.RawMessage, error) {
	var b []byte
	var err error
	switch {
	case v == "-":
		b, err = io.ReadAll(stdin)
	case strings.HasPrefix(v, "@"):
		b, err = os.ReadFile(v[1:])
	default:
		b = []byte(v)
	}
	if err != nil {
		return nil, usagef("call: --body: %v", err)
	}
	b = bytes.TrimSpace(b)
	if !json.Valid(b) {
		return nil, usagef("call: --body is not JSON")
	}
	return b, nil
}

func splitKV(flag, kv string) (string, string, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return "", "", usagef("call: %s %q: want NAME=VALUE", flag, kv)
	}
	return k, v, nil
}

// openCallFile opens --file field=@PATH[;type=MIME].
func openCallFile(spec string) (*callFile, error) {
	field, p, err := splitKV("--file", spec)
	if err != nil {
		return nil, err
	}
	cf := &callFile{field: field, path: strings.TrimPrefix(p, "@")}
	if i := strings.LastIndex(cf.path, ";type="); i >= 0 {
		cf.path, cf.contentType = cf.path[:i], cf.path[i+len(";type="):]
	}
	if cf.contentType == "" {
		cf.contentType = mime.TypeByExtension(filepath.Ext(cf.path))
	}
	if cf.contentType == "" {
		cf.contentType = "application/octet-stream"
	}
	if cf.f, err = os.Open(cf.path); err != nil {
		return nil, usagef("call: --file %s: %v", field, err)
	}
	fi, err := cf.f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		cf.f.Close()
		return nil, usagef("call: --file %s: %s is not a regular file", field, cf.path)
	}
	cf.size = fi.Size()
	return cf, nil
}

// invoke POSTs the envelope: JSON, or, with files, a multipart envelope streamed from the
// files (its JSON parts first, as docs/contract.md §4 asks of uploads).
func (c *caller) invoke(ctx context.Context, service, action string, env map[string]any, files []*callFile, reqID, idem string) (*http.Response, error) {
	u := c.api + "/orgs/" + url.PathEscape(c.org) + "/services/" + url.PathEscape(service) + "/" + url.PathEscape(action) + "/"
	if len(files) == 0 {
		b, err := json.Marshal(env)
		if err != nil {
			return nil, err
		}
		return c.do(ctx, http.MethodPost, u, bytes.NewReader(b), "application/json", reqID, idem)
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	var total int64
	for _, f := range files {
		total += f.size
	}
	label := "upload " + filepath.Base(files[0].path)
	if len(files) > 1 {
		label = fmt.Sprintf("upload %d files", len(files))
	}
	bar := c.bar(label, total)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(writeEnvelope(mw, env, files, bar))
	}()
	resp, err := c.do(ctx, http.MethodPost, u, pr, mw.FormDataContentType(), reqID, idem)
	pr.Close() // an answer that came before the upload ended stops it
	<-done
	return resp, err
}

func writeEnvelope(mw *multipart.Writer, env map[string]any, files []*callFile, bar *progressBar) error {
	for _, name := range []string{"query", "headers", "path_params", "body"} {
		if v, ok := env[name]; ok {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if err := mw.WriteField(name, string(b)); err != nil {
				return err
			}
		}
	}
	quote := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`,
			quote.Replace(f.field), quote.Replace(filepath.Base(f.path))))
		h.Set("Content-Type", f.contentType)
		w, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, bar.reader(f.f)); err != nil {
			return err
		}
	}
	bar.finish()
	return mw.Close()
}

// do sends one request with the key; a failure to get an answer is a callError.
func (c *caller) do(ctx context.Context, method, u string, body io.Reader, contentType, reqID, idem string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, callFailed("%v", err)
	}
	req.Header.Set("Authorization", "Api-Key "+c.key)
	req.Header.Set("User-Agent", "aiproxy-call/1")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if reqID != "" {
		req.Header.Set("X-Request-Id", reqID)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, callFailed("%s", oneLine(err))
	}
	return resp, nil
}

// getJSON GETs a route under the org and decodes its JSON answer into v.
func (c *caller) getJSON(ctx context.Context, path string, v any) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, c.api+"/orgs/"+url.PathEscape(c.org)+path, nil, "", "", "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, answerError(resp)
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return nil, callFailed("reading %s: %v", path, err)
	}
	return b, nil
}

// answerError turns an error answer into its detail (docs/contract.md: `detail`, or
// `error` for a malformed request), with the provider's status and body when it failed.
func answerError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Detail, Error  any
		UpstreamStatus int             `json:"upstream_status"`
		UpstreamBody   json.RawMessage `json:"upstream_body"`
	}
	msg := resp.Status
	if json.Unmarshal(b, &e) == nil {
		for _, v := range []any{e.Detail, e.Error} {
			if s, ok := v.(string); ok && s != "" {
				msg = s
				break
			} else if v != nil {
				j, _ := json.Marshal(v)
				msg = string(j)
				break
			}
		}
	} else if t := strings.TrimSpace(string(b)); t != "" {
		msg += ": " + cut(t, 300)
	}
	if e.UpstreamStatus != 0 {
		msg += fmt.Sprintf(" (upstream_status %d", e.UpstreamStatus)
		var compact bytes.Buffer
		if len(e.UpstreamBody) > 0 && string(e.UpstreamBody) != `""` && json.Compact(&compact, e.UpstreamBody) == nil {
			msg += ": " + cut(compact.String(), 300)
		}
		msg += ")"
	}
	return callFailed("%s", strings.ReplaceAll(msg, "\n", " "))
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// download writes the answer to path, removing the file when the answer breaks off.
func (c *caller) download(resp *http.Response, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return callFailed("--out: %v", err)
	}
	err = copyAnswer(f, resp.Body, c.bar("download "+filepath.Base(path), resp.ContentLength))
	if cerr := f.Close(); err == nil && cerr != nil {
		err = callFailed("--out: %v", cerr)
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// copyAnswer copies an answer's bytes as they arrive.
func copyAnswer(w io.Writer, r io.Reader, bar *progressBar) error {
	_, err := io.Copy(w, bar.reader(r))
	if err != nil {
		return callFailed("the answer broke off: %v", err)
	}
	bar.finish()
	return nil
}

// printAnswerJSON prints a JSON answer: indented for a terminal, as it came (with a final
// newline) otherwise.
func printAnswerJSON(w io.Writer, b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if isTerminal(w) {
		var out bytes.Buffer
		if json.Indent(&out, b, "", "  ") == nil {
			b = out.Bytes()
		}
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}

// jobView is what --wait reads of a job (docs/jobs.md, "The view").
type jobView struct {
	ID             int64           `json:"id"`
	UpstreamJobID  string          `json:"upstream_job_id"`
	RequestID      string          `json:"request_id"`
	Status         *string         `json:"status"`
	ProviderStatus *string         `json:"provider_status"`
	Error          json.RawMessage `json:"error"`
}

// waitJob finds the job the invoke created — by the request id the call sent, or by an id
// the answer holds — waits until it is terminal, and prints its final view.
func (c *caller) waitJob(ctx context.Context, stdout io.Writer, service, reqID string, answer []byte) error {
	var list struct {
		Results []jobView `json:"results"`
	}
	if _, err := c.getJSON(ctx, "/jobs/?service="+url.QueryEscape(service)+"&limit=50", &list); err != nil {
		return err
	}
	ids := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			ids[v] = true
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var a any
	_ = json.Unmarshal(answer, &a)
	walk(a)
	var job *jobView
	for i, j := range list.Results {
		if (j.RequestID == reqID || ids[j.UpstreamJobID]) && (job == nil || job.Status == nil && j.Status != nil) {
			job = &list.Results[i]
		}
	}
	if job == nil {
		return callFailed("--wait: the answer names no job of the gateway's (the action creates none?): %s", cut(string(bytes.TrimSpace(answer)), 300))
	}

	var state atomic.Pointer[string]
	show := func(v *jobView) {
		st := "no status"
		if v.Status != nil {
			st = *v.Status
		}
		if v.ProviderStatus != nil {
			st += " (" + *v.ProviderStatus + ")"
		}
		state.Store(&st)
	}
	show(job)
	stop := c.spinner(job.ID, &state)
	defer stop()
	// Waiters never call the provider (docs/jobs.md): a terminal's status line may read
	// the job more often, at no cost upstream.
	wait := 30
	if c.stderr != nil {
		wait = 5
	}
	for {
		var view jobView
		b, err := c.getJSON(ctx, fmt.Sprintf("/jobs/%d/?wait=%d", job.ID, wait), &view)
		if err != nil {
			return err
		}
		show(&view)
		if view.Status == nil || *view.Status == "completed" || *view.Status == "failed" {
			stop()
			if err := printAnswerJSON(stdout, b); err != nil {
				return err
			}
			if view.Status != nil && *view.Status == "failed" {
				var compact bytes.Buffer
				_ = json.Compact(&compact, view.Error)
				return &callError{exitJobFailed, fmt.Sprintf("job %d failed: %s", view.ID, cut(compact.String(), 300))}
			}
			return nil
		}
	}
}

// spinner shows the job's state on the terminal until stop is called (a no-op off a
// terminal).
func (c *caller) spinner(id int64, state *atomic.Pointer[string]) (stop func()) {
	if c.stderr == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		frames := []rune(`|/-\`)
		for i := 0; ; i++ {
			fmt.Fprintf(c.stderr, "\r\x1b[K%c job %d: %s  %s", frames[i%len(frames)], id, *state.Load(), time.Since(start).Round(time.Second))
			select {
			case <-quit:
				fmt.Fprint(c.stderr, "\r\x1b[K")
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

// progressBar draws bytes done of a total on a terminal; a nil bar draws nothing.
type progressBar struct {
	w     io.Writer
	label string
	total int64 // -1: unknown
	n     atomic.Int64
	last  time.Time
}

func (c *caller) bar(label string, total int64) *progressBar {
	if c.stderr == nil {
		return nil
	}
	return &progressBar{w: c.stderr, label: label, total: total}
}

func (p *progressBar) reader(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return &barReader{r, p}
}

type barReader struct {
	r io.Reader
	p *progressBar
}

func (b *barReader) Read(buf []byte) (int, error) {
	n, err := b.r.Read(buf)
	b.p.n.Add(int64(n))
	if time.Since(b.p.last) >= 100*time.Millisecond {
		b.p.draw()
	}
	return n, err
}

func (p *progressBar) draw() {
	p.last = time.Now()
	n := p.n.Load()
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r\x1b[K%s %s", p.label, sizeText(n))
		return
	}
	const width = 30
	done := int(min(n, p.total) * width / p.total)
	fmt.Fprintf(p.w, "\r\x1b[K%s [%s%s] %s / %s %3d%%", p.label, strings.Repeat("#", done), strings.Repeat(".", width-done),
		sizeText(n), sizeText(p.total), min(n, p.total)*100/p.total)
}

// finish draws the bar once more, complete, and ends its line.
func (p *progressBar) finish() {
	if p != nil {
		p.draw()
		fmt.Fprintln(p.w)
	}
}

func sizeText(n int64) string {
	switch {
	case n < 0:
		return "unknown size"
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

func orUnknown(ct string) string {
	if ct == "" {
		return "of no content type"
	}
	return ct
}

// flushWriter flushes after every write, for writers that buffer (a stream's pieces are
// shown as they arrive).
type flushWriter struct{ w io.Writer }

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if fl, ok := f.w.(interface{ Flush() error }); ok && err == nil {
		err = fl.Flush()
	}
	return n, err
}

// isTerminal reports whether w is a terminal: a character device other than /dev/null.
// A writer may say so itself (tests).
func isTerminal(w io.Writer) bool {
	if t, ok := w.(interface{ isTerminal() bool }); ok {
		return t.isTerminal()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

// callRequestID is the X-Request-Id a call sends: the job list names it (request_id).
func callRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "cli-" + hex.EncodeToString(b)
}
