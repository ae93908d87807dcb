package sqlcodec_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/internal/sqlcodec"
)

func TestStringsRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		in      []string
		encoded string
		out     []string
	}{
		{nil, "[]", nil},
		{[]string{}, "[]", nil},
		{[]string{"heygen:*", `quote"d`}, `["heygen:*","quote\"d"]`, []string{"heygen:*", `quote"d`}},
	} {
		enc := sqlcodec.EncodeStrings(tt.in)
		if enc != tt.encoded {
			t.Errorf("EncodeStrings(%q) = %s, want %s", tt.in, enc, tt.encoded)
		}
		got, err := sqlcodec.DecodeStrings(enc)
		if err != nil || !reflect.DeepEqual(got, tt.out) {
			t.Errorf("DecodeStrings(%s) = %q, %v; want %q", enc, got, err, tt.out)
		}
	}
	if _, err := sqlcodec.DecodeStrings(`{"not":"a list"}`); err == nil {
		t.Error("DecodeStrings of an object: no error")
	}
}

func TestPolicyRoundTrip(t *testing.T) {
	enc, err := sqlcodec.EncodePolicy(nil)
	if err != nil || enc != nil {
		t.Errorf("EncodePolicy(nil) = %v, %v; want nil (NULL)", enc, err)
	}
	if p, err := sqlcodec.DecodePolicy(nil); err != nil || p != nil {
		t.Errorf("DecodePolicy(nil) = %v, %v; want nil", p, err)
	}
	in := aiproxy.Policy{AllowTenantKey: true, AllowPlatformKey: true, DefaultSource: aiproxy.SourcePlatform}
	enc, err = sqlcodec.EncodePolicy(&in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sqlcodec.DecodePolicy(enc)
	if err != nil || *got != in {
		t.Errorf("policy round trip: %+v, %v; want %+v", got, err, in)
	}
	bad := "[1]"
	if _, err := sqlcodec.DecodePolicy(&bad); err == nil {
		t.Error("DecodePolicy of a list: no error")
	}
}

func TestBytes(t *testing.T) {
	if b := sqlcodec.Bytes(nil); b == nil || len(b) != 0 {
		t.Errorf("Bytes(nil) = %#v, want a non-nil empty slice", b)
	}
	if b := sqlcodec.Bytes([]byte("x")); string(b) != "x" {
		t.Errorf("Bytes(x) = %q", b)
	}
}

func TestNowIsUTCMicroseconds(t *testing.T) {
	n := sqlcodec.Now()
	if n.Location() != time.UTC || n.Nanosecond()%1000 != 0 {
		t.Errorf("Now() = %v: want UTC, whole microseconds", n)
	}
}

func TestPage(t *testing.T) {
	for _, tt := range []struct {
		before     int64
		limit      int
		wantBefore int64
		wantLimit  int
	}{
		{0, 0, math.MaxInt64, math.MaxInt32},
		{-1, -5, math.MaxInt64, math.MaxInt32},
		{42, 10, 42, 10},
	} {
		if b, l := sqlcodec.Page(tt.before, tt.limit); b != tt.wantBefore || l != tt.wantLimit {
			t.Errorf("Page(%d, %d) = %d, %d; want %d, %d", tt.before, tt.limit, b, l, tt.wantBefore, tt.wantLimit)
		}
	}
}

func TestNotFound(t *testing.T) {
	noRows := errors.New("no rows in result set")
	err := sqlcodec.NotFound(fmt.Errorf("scan: %w", noRows), noRows, "Org %q not found.", "acme")
	if aiproxy.ErrorCode(err) != aiproxy.ENOTFOUND || aiproxy.ErrorMessage(err) != `Org "acme" not found.` {
		t.Errorf("NotFound of no rows = %v, want ENOTFOUND Org \"acme\" not found.", err)
	}
	broken := errors.New("connection lost")
	if err := sqlcodec.NotFound(broken, noRows, "Org %q not found.", "acme"); err != broken {
		t.Errorf("NotFound of another error = %v, want it unchanged", err)
	}
	if err := sqlcodec.NotFound(nil, noRows, "Org %q not found.", "acme"); err != nil {
		t.Errorf("NotFound(nil) = %v", err)
	}
}

// rows is a result set of ints.
type rows struct {
	vals []int
	i    int
	err  error
}

func (r *rows) Next() bool { r.i++; return r.i <= len(r.vals) }
func (r *rows) Err() error { return r.err }
func (r *rows) Scan(dest ...any) error {
	*dest[0].(*int) = r.vals[r.i-1]
	return nil
}

func scanInt(row sqlcodec.Row) (*int, error) {
	var n int
	if err := row.Scan(&n); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, errors.New("negative")
	}
	return &n, nil
}

func TestCollect(t *testing.T) {
	got, err := sqlcodec.Collect(&rows{vals: []int{1, 2, 3}}, scanInt)
	if err != nil || len(got) != 3 || *got[0] != 1 || *got[2] != 3 {
		t.Errorf("Collect = %v, %v", got, err)
	}
	if got, err := sqlcodec.Collect(&rows{}, scanInt); err != nil || got != nil {
		t.Errorf("Collect of no rows = %v, %v; want nil, nil", got, err)
	}
	if _, err := sqlcodec.Collect(&rows{vals: []int{1, -1}}, scanInt); err == nil {
		t.Error("Collect: a scan error was not returned")
	}
	broken := errors.New("connection lost")
	if _, err := sqlcodec.Collect(&rows{vals: []int{1}, err: broken}, scanInt); !errors.Is(err, broken) {
		t.Errorf("Collect: rows error = %v, want %v", err, broken)
	}
}

func TestMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_later.sql":   {Data: []byte("ten")},
		"m/0002_second.sql":  {Data: []byte("two")},
		"m/0001_initial.sql": {Data: []byte("one")},
		"m/README.md":        {Data: []byte("not a migration")},
	}
	got, err := sqlcodec.Migrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := []sqlcodec.Migration{
		{Version: 1, Name: "0001_initial.sql", SQL: "one"},
		{Version: 2, Name: "0002_second.sql", SQL: "two"},
		{Version: 10, Name: "0010_later.sql", SQL: "ten"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Migrations = %+v, want %+v", got, want)
	}

	for name, fsys := range map[string]fstest.MapFS{
		"unnumbered": {"m/initial.sql": {}},
		"duplicate":  {"m/0001_a.sql": {}, "m/1_b.sql": {}},
	} {
		if _, err := sqlcodec.Migrations(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), ".sql") {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
}

func TestClassify(t *testing.T) {
	down := errors.New("connection refused")
	unreachable := func(err error) bool { return errors.Is(err, down) }
	ctx := context.Background()
	expired, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	cancelled, cancel2 := context.WithCancel(ctx)
	cancel2()
	conflict := aiproxy.Errorf(aiproxy.ECONFLICT, "Org slug %q is taken.", "acme")
	sqlErr := errors.New(`relation "orgs" does not exist`)

	if err := sqlcodec.Classify(ctx, nil, unreachable); err != nil {
		t.Errorf("nil: %v", err)
	}
	if err := sqlcodec.Classify(expired, conflict, unreachable); err != conflict {
		t.Errorf("a domain error: %v, want it unchanged", err)
	}
	if err := sqlcodec.Classify(ctx, sqlErr, unreachable); err != sqlErr {
		t.Errorf("an SQL error: %v, want it unchanged", err)
	}
	for name, c := range map[string]struct {
		ctx context.Context
		err error
	}{
		"unreachable":         {ctx, fmt.Errorf("get org: %w", down)},
		"the call's deadline": {expired, errors.New("interrupted")},
		"a deadline error":    {ctx, fmt.Errorf("get org: %w", context.DeadlineExceeded)},
	} {
		err := sqlcodec.Classify(c.ctx, c.err, unreachable)
		e := aiproxy.AsError(err)
		if e == nil || e.Code != aiproxy.EUNAVAILABLE || e.Message != sqlcodec.UnavailableMessage || e.RetryAfter != "5" || !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want EUNAVAILABLE with Retry-After 5 wrapping the cause", name, err)
		}
	}
	// The caller's cancellation: never unavailability, always recognizable as such.
	for _, cause := range []error{context.Canceled, errors.New("interrupted"), down} {
		err := sqlcodec.Classify(cancelled, cause, unreachable)
		if !errors.Is(err, context.Canceled) || aiproxy.AsError(err) != nil {
			t.Errorf("cancelled by the caller (%v): %v, want context.Canceled and no domain error", cause, err)
		}
	}
}
