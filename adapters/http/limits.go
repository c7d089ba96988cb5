package httpapi

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/socialops/socialops/domain"
)

var errRateLimited = &domain.Error{Code: "rate_limited", Message: "too many requests for this key; retry after the time in Retry-After"}

// withTimeout bounds every request: a handler waiting on an unreachable
// database answers 503 within the timeout instead of hanging.
func withTimeout(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// limiters is a token bucket per key (an API key, a console user, or an
// instance's provider signature). Idle buckets are dropped after a while.
type limiters struct {
	rps   rate.Limit
	burst int
	mu    sync.Mutex
	keys  map[string]*bucket
	calls int
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiters(rps float64, burst int) *limiters {
	if rps <= 0 {
		return nil
	}
	if burst < 1 {
		burst = int(math.Ceil(rps))
	}
	return &limiters{rps: rate.Limit(rps), burst: burst, keys: map[string]*bucket{}}
}

// allow takes a token for key; when none is left it returns how long to wait.
func (l *limiters) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls%10000 == 0 {
		for k, b := range l.keys {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.keys, k)
			}
		}
	}
	b, ok := l.keys[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rps, l.burst)}
		l.keys[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// limit answers 429 with Retry-After when key has used its budget.
func (h *handlers) limit(c *gin.Context, key string) bool {
	allowed, wait := h.limiters.allow(key, time.Now())
	if allowed {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Header("Retry-After", strconv.Itoa(max(secs, 1)))
	writeError(c, h.Logger, errRateLimited)
	return false
}
