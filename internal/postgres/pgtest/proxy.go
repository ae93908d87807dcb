package pgtest

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// Proxy is a TCP proxy in front of a PostgreSQL server that a test can turn into a black
// hole, the way a network partition looks to a client: while it is one, nothing passes
// either way on the connections already open (they stay open, silent), and new connections
// are accepted but never answered. Nothing is refused and nothing is closed: only
// deadlines can tell the client that the database is gone.
type Proxy struct {
	ln     net.Listener
	dsn    string // the DSN through the proxy
	target func() (net.Conn, error)

	mu     sync.Mutex
	cond   *sync.Cond
	hole   bool
	closed bool
	held   []net.Conn // accepted while a black hole, never answered
	conns  []net.Conn // every connection, for Close
	wg     sync.WaitGroup
}

// NewProxy starts a proxy in front of the server dsn names and returns it; Proxy.DSN is
// dsn with the proxy's address in place of the server's. It is closed when the test ends.
func NewProxy(t testing.TB, dsn string) *Proxy {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	network, addr := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, addr = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: func() (net.Conn, error) { return net.Dial(network, addr) }}
	p.cond = sync.NewCond(&p.mu)
	p.dsn = withHost(dsn, ln.Addr().(*net.TCPAddr))
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// DSN is the DSN to reach the server through the proxy.
func (p *Proxy) DSN() string { return p.dsn }

// Blackhole turns the black hole on or off. Off, traffic held meanwhile flows again, and
// the connections accepted meanwhile are closed (their clients have given up on them).
func (p *Proxy) Blackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hole = on
	if !on {
		for _, c := range p.held {
			c.Close()
		}
		p.held = nil
	}
	p.cond.Broadcast()
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.ln.Close()
	for _, c := range append(p.conns, p.held...) {
		c.Close()
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		switch {
		case p.closed:
			c.Close()
		case p.hole:
			p.held = append(p.held, c)
		default:
			p.conns = append(p.conns, c)
			p.wg.Add(1)
			go p.serve(c)
		}
		p.mu.Unlock()
	}
}

// serve forwards between client c and a new connection to the server.
func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer c.Close()
	s, err := p.target()
	if err != nil {
		return
	}
	defer s.Close()
	p.mu.Lock()
	p.conns = append(p.conns, s)
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.pipe(s, c); done <- struct{}{} }()
	go func() { p.pipe(c, s); done <- struct{}{} }()
	<-done // one side ended: end both
}

// pipe copies src to dst, holding every chunk while the proxy is a black hole.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF or a closed connection: the end either way
			return
		}
	}
}

// pass waits while the proxy is a black hole; false if it was closed meanwhile.
func (p *Proxy) pass() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.hole && !p.closed {
		p.cond.Wait()
	}
	return !p.closed
}

// withHost returns dsn with addr in place of its host and port.
func withHost(dsn string, addr *net.TCPAddr) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Host = addr.String()
		q := u.Query()
		q.Del("host")
		q.Del("port")
		u.RawQuery = q.Encode()
		return u.String()
	}
	// key=value form: a later keyword overrides an earlier one.
	return fmt.Sprintf("%s host=%s port=%d", strings.TrimSpace(dsn), addr.IP, addr.Port)
}
