package main

import (
	"context"
	"flag"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// The floor is the least a proxy can do: forward, inject the key, stream the answer. Its
// transport keeps as many idle connections as aiproxy's (gateway.NewTransport), so the
// comparison is not about pool sizes.
func cmdFloor(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench floor", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	upstream := fs.String("upstream", "", "upstream base URL")
	key := fs.String("key", "", "xi-api-key to inject")
	if err := fs.Parse(args); err != nil {
		return err
	}
	target, err := url.Parse(*upstream)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 256
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set("xi-api-key", *key)
		},
		Transport: tr,
		// Responses without a length (the stream) are flushed at once by ReverseProxy anyway.
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	// Full duplex: the transport reads the inbound body once more after the upstream has
	// answered (to check it was not longer than declared); without this, net/http's HTTP/1
	// server has closed that body by then and the transport tears down the upstream
	// connection mid-answer (golang/go#40747).
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		proxy.ServeHTTP(w, r)
	})
	return serveUntilDone(ctx, *addr, mux)
}
