package webhooks

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aiproxy/aiproxy"
)

const (
	defaultInterval    = time.Second
	defaultLease       = time.Minute
	defaultConcurrency = 16
	maxAnswer          = 4 << 10 // bytes of an answer read
	maxExcerpt         = 200     // bytes of an answer kept in LastError
	userAgent          = "aiproxy-webhooks/1"
)

// Deliverer sends the store's due webhook deliveries, on every replica (Run). The store
// leases each claimed delivery to one Deliverer (Owner) at a time, so replicas never send
// one delivery at once; a Deliverer that stops mid-attempt leaves the delivery to be
// claimed again once its lease expires. Set the fields before Run; they are not changed
// after.
type Deliverer struct {
	Store aiproxy.Store
	// Secret opens the org's signing secret (the credential aiproxy.WebhookOutService).
	Secret func(ctx context.Context, orgID int64) (string, error)
	// Render builds a delivery's body (JSON) at its first attempt; it is kept in the
	// delivery's Payload and sent unchanged by every further attempt.
	Render func(ctx context.Context, d *aiproxy.WebhookDelivery) ([]byte, error)
	// Client sends the requests: NewClient's (nil: NewClient(AllowPrivate, 0)). Its
	// timeout bounds an attempt and must be shorter than Lease.
	Client       *http.Client
	Owner        string // this replica's id in the leases ("": a random one)
	AllowPrivate bool   // allow http and private addresses in URLs (development only)
	Logger       *slog.Logger
	Now          func() time.Time // nil: time.Now
	Interval     time.Duration    // how often due deliveries are claimed (0: 1 s)
	Lease        time.Duration    // how long a claimed delivery is held (0: 1 min)
	Concurrency  int              // deliveries sent at once (0: 16)

	once     sync.Once
	kick     chan struct{}
	mu       sync.Mutex
	inflight map[string]struct{} // ids of the deliveries Run is sending
	client   *http.Client
	owner    string
	logger   *slog.Logger
	backlog  atomic.Bool // the last claim got all it asked for: more may be due
}

func (d *Deliverer) init() {
	d.once.Do(func() {
		d.kick = make(chan struct{}, 1)
		d.inflight = map[string]struct{}{}
		d.client = d.Client
		if d.client == nil {
			d.client = NewClient(d.AllowPrivate, 0)
		}
		d.owner = d.Owner
		if d.owner == "" {
			d.owner = "replica-" + rand.Text()
		}
		d.logger = d.Logger
		if d.logger == nil {
			d.logger = slog.New(slog.DiscardHandler)
		}
	})
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) lease() time.Duration {
	if d.Lease > 0 {
		return d.Lease
	}
	return defaultLease
}

// Kick makes Run claim due deliveries at once rather than at its next tick (a delivery was
// added or retried). It never blocks.
func (d *Deliverer) Kick() {
	d.init()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run sends due deliveries until ctx is done: every Interval (or at once after Kick) it
// claims as many as it has free slots (Concurrency) and sends each in its own goroutine.
// When ctx is done it cancels the attempts in flight (their deliveries are claimed again
// once their leases expire), waits for them, closes the client's idle connections and
// returns.
func (d *Deliverer) Run(ctx context.Context) {
	d.init()
	conc := d.Concurrency
	if conc <= 0 {
		conc = defaultConcurrency
	}
	interval := d.Interval
	if interval <= 0 {
		interval = defaultInterval
	}
	slots := make(chan struct{}, conc)
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		d.client.CloseIdleConnections()
	}()
	for ctx.Err() == nil {
		d.claim(ctx, &wg, slots)
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-d.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// claim claims due deliveries for the free slots and starts sending them. Only Run takes
// slots, so those counted free stay free until taken here. The store hands an owner its own
// leased deliveries again, those in flight here too: they are skipped (the claim asks for
// as many more), and claimed ones beyond the free slots stay leased here until the next
// claim, which a freed slot makes at once.
func (d *Deliverer) claim(ctx context.Context, wg *sync.WaitGroup, slots chan struct{}) {
	free := cap(slots) - len(slots)
	if free == 0 { // every slot busy: the next one freed kicks
		d.backlog.Store(true)
		return
	}
	// The deliveries in flight when the claim starts are skipped even if they finish before
	// it answers: the claim may have read one as pending just before its attempt was
	// recorded, and sending it again would deliver it twice.
	d.mu.Lock()
	limit := free + len(d.inflight)
	before := make(map[string]struct{}, len(d.inflight))
	for id := range d.inflight {
		before[id] = struct{}{}
	}
	d.mu.Unlock()
	now := d.now()
	ds, err := d.Store.ClaimWebhookDeliveries(ctx, d.owner, now, now.Add(d.lease()), limit)
	if err != nil {
		if ctx.Err() == nil {
			d.logger.Warn("claiming webhook deliveries failed", "error", err.Error())
		}
		return
	}
	started, left := 0, false
	for _, dl := range ds {
		d.mu.Lock()
		_, busy := d.inflight[dl.ID]
		if _, was := before[dl.ID]; was {
			busy = true
		}
		if !busy && started < free {
			d.inflight[dl.ID] = struct{}{}
		}
		d.mu.Unlock()
		if busy {
			continue
		}
		if started == free {
			left = true
			continue
		}
		started++
		slots <- struct{}{}
		wg.Go(func() {
			defer func() {
				d.mu.Lock()
				delete(d.inflight, dl.ID)
				d.mu.Unlock()
				<-slots
				if d.backlog.Load() {
					d.Kick()
				}
			}()
			d.deliver(ctx, dl)
		})
	}
	d.backlog.Store(left || len(ds) >= limit)
}

// deliver makes one attempt at a claimed delivery and logs what went wrong recording it.
func (d *Deliverer) deliver(ctx context.Context, dl *aiproxy.WebhookDelivery) {
	err := d.Attempt(ctx, dl)
	switch {
	case err == nil || ctx.Err() != nil:
	case aiproxy.ErrorCode(err) == aiproxy.ECONFLICT:
		d.logger.Debug("a webhook delivery's lease was taken by another replica",
			"delivery_id", dl.ID, "org_id", dl.OrgID)
	default:
		d.logger.Warn("recording a webhook attempt failed", "delivery_id", dl.ID,
			"org_id", dl.OrgID, "error", err.Error())
	}
}

// Attempt makes one attempt at a delivery this Deliverer holds the lease of, and records it
// (Store.RecordWebhookAttempt, with d updated: Payload, State, Attempts, NextAttemptAt,
// LastStatus, LastError, UpdatedAt). A 2xx answer delivers it; any other outcome is a
// failed attempt, retried as NextAttempt says or failed for good when that gives up; a
// delivery whose org has no webhook, or whose webhook no longer subscribes to its event
// type, fails at once without a request. It returns the error of recording (ECONFLICT:
// another replica holds the lease now), or ctx's error when ctx ended before an answer came
// (then nothing is recorded, and the delivery is claimed again when its lease expires); an
// answer that came is recorded whatever ctx.
func (d *Deliverer) Attempt(ctx context.Context, dl *aiproxy.WebhookDelivery) error {
	d.init()
	start, t0 := d.now(), time.Now()
	status, final, msg := d.send(ctx, dl, start)
	if err := ctx.Err(); err != nil && status == 0 {
		return err // stopped before an answer came: nothing to record
	}
	dl.Attempts++
	dl.LastStatus, dl.LastError = status, msg
	switch {
	case msg == "":
		dl.State = aiproxy.DeliveryDelivered
	case final:
		dl.State = aiproxy.DeliveryFailed
	default:
		end := d.now()
		if next, ok := NextAttempt(dl.Attempts, dl.CreatedAt, end); ok {
			dl.State, dl.NextAttemptAt = aiproxy.DeliveryPending, next
		} else {
			dl.State = aiproxy.DeliveryFailed
		}
	}
	dl.UpdatedAt = d.now()
	a := &aiproxy.WebhookAttempt{DeliveryID: dl.ID, N: dl.Attempts, At: start, Status: status,
		Error: msg, Duration: time.Since(t0)}
	d.logger.Debug("webhook attempt", "delivery_id", dl.ID, "org_id", dl.OrgID, "type", dl.Type,
		"attempt", dl.Attempts, "status", status, "state", dl.State, "error", msg)
	// An answer that came is recorded even when ctx ended meanwhile (the replica stopping):
	// else the delivery would wait for its lease to expire, and be sent again, delivered.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	return d.Store.RecordWebhookAttempt(rctx, dl, a, d.owner)
}

// recordTimeout bounds recording an attempt once its answer came.
const recordTimeout = 5 * time.Second

// send makes the request of one attempt. It returns the answer's status (0: none), and
// why the attempt failed ("" when it delivered) and whether that is for good.
func (d *Deliverer) send(ctx context.Context, dl *aiproxy.WebhookDelivery, start time.Time) (status int, final bool, msg string) {
	wh, err := d.Store.GetOrgWebhook(ctx, dl.OrgID)
	if aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
		return 0, true, "the org has no webhook"
	}
	if err != nil {
		d.logger.Warn("loading an org's webhook failed", "org_id", dl.OrgID, "error", err.Error())
		return 0, false, "loading the org's webhook failed"
	}
	if !slices.Contains(wh.Events, dl.Type) {
		return 0, true, "the webhook is no longer subscribed to " + dl.Type
	}
	if dl.Payload == "" {
		if d.Render == nil {
			return 0, false, "the event's body could not be built"
		}
		b, err := d.Render(ctx, dl)
		if err != nil {
			d.logger.Warn("building a webhook's body failed", "delivery_id", dl.ID, "error", err.Error())
			return 0, false, "the event's body could not be built"
		}
		dl.Payload = string(b)
	}
	if err := CheckURL(wh.URL, d.AllowPrivate); err != nil {
		return 0, false, "the webhook's URL is refused: " + err.Error()
	}
	if d.Secret == nil {
		return 0, false, "the webhook's signing secret could not be opened"
	}
	secret, err := d.Secret(ctx, dl.OrgID)
	if err != nil {
		d.logger.Warn("opening a webhook's signing secret failed", "org_id", dl.OrgID, "error", err.Error())
		return 0, false, "the webhook's signing secret could not be opened"
	}
	body := []byte(dl.Payload)
	sig, err := Sign(secret, dl.ID, start, body)
	if err != nil {
		return 0, false, "the webhook's signing secret is malformed"
	}

	// The request may not outlive the lease: past it another replica may send too.
	rctx, cancel := context.WithTimeout(ctx, d.lease()*9/10)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, wh.URL, bytes.NewReader(body))
	if err != nil {
		return 0, false, "the webhook's URL is not valid"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("webhook-id", dl.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(start.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, false, d.describe(err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code <= 299:
		return code, false, ""
	case code >= 300 && code <= 399:
		return code, false, fmt.Sprintf("the webhook answered %d %s, a redirect, which is not followed", code, http.StatusText(code))
	}
	msg = fmt.Sprintf("the webhook answered %d %s", code, http.StatusText(code))
	if ex := excerpt(answer); ex != "" {
		msg += ": " + ex
	}
	return code, false, msg
}

// describe says why a request got no answer, never quoting the URL (the error of
// http.Client.Do does, with its query).
func (d *Deliverer) describe(err error) string {
	if pe, ok := errors.AsType[*PrivateAddressError](err); ok {
		return "the webhook's host resolves to " + pe.Class + " address (" + pe.Addr.String() + "), which is refused"
	}
	var te interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout()) {
		t := d.lease() * 9 / 10
		if c := d.client.Timeout; c > 0 && c < t {
			t = c
		}
		return "the webhook did not answer within " + t.String()
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return "the request to the webhook failed: " + excerpt([]byte(err.Error()))
}

// excerpt returns the start of b fit for an error message: valid UTF-8, control and
// format characters replaced by spaces, runs of spaces collapsed, at most maxExcerpt bytes.
func excerpt(b []byte) string {
	var sb strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(string(b[:min(len(b), 4*maxExcerpt)]), "\uFFFD") {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && sb.Len() > 0 {
			if sb.Len()+1 > maxExcerpt {
				break
			}
			sb.WriteByte(' ')
		}
		space = false
		if sb.Len()+utf8.RuneLen(r) > maxExcerpt {
			break
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
