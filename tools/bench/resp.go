package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// respConn is the least of a Redis client the bench needs (is Redis there, and removing
// the budget keys of its own org afterwards): RESP2 commands over one connection. The
// tools module does not depend on a Redis client library, and this is all it takes.
type respConn struct {
	c net.Conn
	r *bufio.Reader
}

// dialRedis connects to addr, host:port or redis://[:password@]host:port[/db] (as
// `aiproxy serve --redis-addr` takes it), authenticates and selects the database.
func dialRedis(addr string) (*respConn, error) {
	hostport, password, db := addr, "", ""
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || u.Scheme != "redis" {
			return nil, errors.New("want host:port or redis://host:port[/db]")
		}
		hostport = u.Host
		if p, ok := u.User.Password(); ok {
			password = p
		}
		db = strings.Trim(u.Path, "/")
	}
	if !strings.Contains(hostport, ":") {
		hostport += ":6379"
	}
	c, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err != nil {
		return nil, err
	}
	rc := &respConn{c: c, r: bufio.NewReader(c)}
	if password != "" {
		if _, err := rc.do("AUTH", password); err != nil {
			c.Close()
			return nil, err
		}
	}
	if db != "" && db != "0" {
		if _, err := rc.do("SELECT", db); err != nil {
			c.Close()
			return nil, err
		}
	}
	return rc, nil
}

func (rc *respConn) Close() error { return rc.c.Close() }

// do sends one command and returns its answer: a string, an int64, nil, or a []any of
// those. An error answer is returned as an error.
func (rc *respConn) do(args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = rc.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		return nil, err
	}
	return readRESP(rc.r)
}

// readRESP reads one RESP2 value.
func readRESP(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redis: empty line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, errors.New("redis: " + line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err // $-1: nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err // *-1: nil
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readRESP(r); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: unexpected answer %q", line)
}

// pingRedis says whether the Redis at addr answers PING.
func pingRedis(addr string) error {
	rc, err := dialRedis(addr)
	if err != nil {
		return err
	}
	defer rc.Close()
	v, err := rc.do("PING")
	if err != nil {
		return err
	}
	if v != "PONG" {
		return fmt.Errorf("PING answered %v", v)
	}
	return nil
}

// deleteRedisBudgetKeys removes what aiproxy's Redis budget ledger (default prefix
// "aiproxy:budget:") keeps for one org: its windows' keys and their entries in the index
// of windows. It returns how many keys it removed.
func deleteRedisBudgetKeys(addr string, orgID int64) (int, error) {
	rc, err := dialRedis(addr)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	const prefix = "aiproxy:budget:"
	base := prefix + strconv.FormatInt(orgID, 10) + ":"
	removed := 0
	cursor := "0"
	for {
		v, err := rc.do("SCAN", cursor, "MATCH", base+"*", "COUNT", "1000")
		if err != nil {
			return removed, err
		}
		page, ok := v.([]any)
		if !ok || len(page) != 2 {
			return removed, fmt.Errorf("redis: SCAN answered %v", v)
		}
		cursor, _ = page[0].(string)
		keys, _ := page[1].([]any)
		if len(keys) > 0 {
			args := []string{"DEL"}
			for _, k := range keys {
				if s, ok := k.(string); ok {
					args = append(args, s)
				}
			}
			n, err := rc.do(args...)
			if err != nil {
				return removed, err
			}
			if n, ok := n.(int64); ok {
				removed += int(n)
			}
		}
		if cursor == "0" || cursor == "" {
			break
		}
	}
	v, err := rc.do("ZRANGE", prefix+"windows", "0", "-1")
	if err != nil {
		return removed, err
	}
	members, _ := v.([]any)
	args := []string{"ZREM", prefix + "windows"}
	for _, m := range members {
		if s, ok := m.(string); ok && strings.HasPrefix(s, base) {
			args = append(args, s)
		}
	}
	if len(args) > 2 {
		if _, err := rc.do(args...); err != nil {
			return removed, err
		}
	}
	return removed, nil
}
