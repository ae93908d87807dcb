package membudget

import (
	"sync"
	"testing"
)

func TestReserveRefusesWhatWouldPassTheLimitAndTakesNothing(t *testing.T) {
	b := New(100)
	if err := b.Reserve(60); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve(41); err != ErrExhausted {
		t.Fatalf("Reserve past the limit: %v, want ErrExhausted", err)
	}
	if b.Used() != 60 {
		t.Fatalf("a refused reservation took bytes: used %d", b.Used())
	}
	if err := b.Reserve(40); err != nil {
		t.Fatalf("Reserve up to the limit: %v", err)
	}
	b.Release(100)
	if b.Used() != 0 {
		t.Fatalf("used %d after releasing everything", b.Used())
	}
}

func TestConcurrentReservationsNeverPassTheLimit(t *testing.T) {
	b := New(1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := int64(0)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if b.Reserve(7) == nil {
					mu.Lock()
					peak = max(peak, b.Used())
					mu.Unlock()
					b.Release(7)
				}
			}
		}()
	}
	wg.Wait()
	if peak > 1000 || b.Used() != 0 {
		t.Fatalf("peak %d (limit 1000), used %d at the end", peak, b.Used())
	}
}

func TestHolderReleasesEverythingItGrewOnce(t *testing.T) {
	b := New(10)
	h := b.NewHolder()
	if err := h.Grow(4); err != nil {
		t.Fatal(err)
	}
	if err := h.Grow(4); err != nil {
		t.Fatal(err)
	}
	if err := h.Grow(4); err != ErrExhausted {
		t.Fatalf("Grow past the limit: %v", err)
	}
	if h.Held() != 8 || b.Used() != 8 {
		t.Fatalf("held %d used %d, want 8 and 8", h.Held(), b.Used())
	}
	h.Release()
	h.Release()
	if b.Used() != 0 {
		t.Fatalf("used %d after Release twice", b.Used())
	}
	var nilBudget *Budget
	if err := nilBudget.Reserve(1 << 40); err != nil {
		t.Fatalf("a nil budget refused: %v", err)
	}
}
