// Package budgets keeps what orgs spend of their budgets (aiproxy.Budget): per org,
// service and window (a UTC day or month, see Window), counters of units reserved for
// requests in flight and committed for requests the upstream accepted. Before an upstream
// call the gateway reserves the request's units (refused if any unit with a limit would go
// over it), commits them once the upstream accepted the call or may have run it, and
// releases them if the upstream refused it. A reservation neither committed nor released
// is given back after its ExpiresAt, which must therefore be later than the longest a
// request can take: a commit that comes after the reservation was given back is not
// counted (as with the store).
//
// Three Ledgers:
//
//   - StoreLedger: the store's counters (aiproxy.Store's budget methods), checked and
//     added in one transaction. Durable, and the record every other ledger starts from.
//   - RedisLedger: counters in Redis shared by every replica, checked and added by one Lua
//     script, so that concurrent reservations never overshoot. It fails closed (errors
//     wrapping ErrRedis).
//   - Failover: what the gateway uses with Redis configured: Redis first, the store while
//     Redis does not answer. Rate limits fail open (package redislimit); budgets are money
//     and never do.
//
// # Redis
//
// Each window has three keys (org, service and window escaped, under Options.Prefix,
// default "aiproxy:budget:"): a hash of counters (reserved + committed per unit, and per
// unit what is in flight and what is committed but not yet in the store), a hash of
// reservations and a sorted set of their expiries. The reserve script gives back expired
// reservations, checks every unit of the request that has a limit, and only then adds
// every unit and records the reservation; the commit script forgets the reservation
// (idempotent), the release script subtracts and forgets it (idempotent). Sweep gives
// back expired reservations of every window. Keys expire Options.KeyGrace (48 h) after
// their window ends. Needs Redis 4 or later, not a cluster.
//
// A window's Redis counters start from the store's: when they do not exist (Redis is new,
// was flushed, or the window is new) the script says so, the caller reads the store's
// counters and runs the script again with them, and the script creates the counters only
// if they still do not exist, so that two replicas doing it at once count once. The
// counters carry a random epoch, recorded in the reservation's ID ("redis:<epoch>:<id>"):
// a reservation whose counters Redis lost is counted when it commits (the new counters,
// started from the store's, never saw it).
//
// # The store stays complete
//
// Units committed in Redis are added to the store's counters asynchronously, in batches
// like the touch batcher of the API keys: every Options.SyncEvery (1 s), per window, one
// store reservation without limits, committed at once. Writing through on every commit
// would put a transaction on one hot counter row per request, which is what Redis is
// there to avoid. Once a batch is in the store, Redis is told (its "committed, not yet in
// the store" counter goes down), so that Redis can later be raised to the store's counters
// without counting the batch twice. The cost: a replica that dies loses the batch it had
// not written (at most SyncEvery of its commits) from the store's counters — not from
// Redis's, which keep counting them for the window. What the store refuses stays pending
// and is tried again.
//
// # Failover
//
// Each Redis call has a short timeout (Options.Timeout, 300 ms, enforced even when the
// client ignores context deadlines). When Redis fails (unreachable, timeout, unexpected
// answer) the Failover switches to the store: first it writes the pending batches, so the
// store counts every unit committed in Redis on this replica; then reservations go to the
// store, with the limits lowered by the units this replica still holds in Redis (its
// reservations in flight there, which the store only sees once they commit). The switch
// waits for the reservations being taken in Redis (each bounded by the timeout), so that
// what it holds there is known, not guessed. Commits of those reservations write their
// units to the store at once; releases leave them to expire in Redis. Reservation IDs
// record where they were taken ("store:<id>" or "redis:…"), and Commit and Release go to
// that ledger. Each window reserved or committed through the store is remembered. A
// commit whose answer was lost, tried again in Redis once it is back, counts a
// reservation it no longer finds as committed by the lost try (the store then gets its
// units like any other commit's).
//
// After Options.RetryAfter (1 s) a caller tries Redis again (Reserve, Used, Sweep). If it
// answers, with reservations to the store stopped meanwhile, the pending batches are
// written and every remembered window's Redis counters are raised to the store's counters
// plus what only Redis knows (its reservations in flight, its commits not yet in the
// store) — never lowered — before reservations go to Redis again. The epoch and a
// generation bumped by every batch acknowledgement are read before the store's counters
// and checked by the script, so a batch reaching the store between the two reads is not
// missed; the script is tried again then.
//
// # What may still overshoot
//
// With one replica, nothing: across both switches every unit reserved or committed is
// counted by the ledger that checks next. With several replicas, three gaps remain; the
// first is bounded by the length of requests and SyncEvery, the second by the length of
// the partial outage, the third by SyncEvery:
//
//   - When a replica switches to the store, reservations in flight in Redis on other
//     replicas, and their commits not yet written to the store (at most SyncEvery of
//     them), are not counted by the store until they commit or are written.
//   - During a partial outage (Redis reachable from some replicas only), what the replicas
//     on the store reserve is not counted by Redis until each of them reaches Redis again
//     and raises its windows; until then the replicas on Redis can overshoot by that much.
//   - If Redis loses its data, the counters restart from the store's; reservations in
//     flight are counted again when they commit, and batches not yet written to the store
//     when Redis acknowledges them (counted twice if the new counters had already read
//     them).
//
// Counting more than was spent is the safe side, and bounded too: a call that timed out
// but ran (a reservation nobody uses, held until it expires; a commit counted both in
// Redis and in the store; a batch the store counted although it answered an error), a
// store reservation released after Redis was raised, a raise racing a batch that is in
// the store but not yet acknowledged.
package budgets
