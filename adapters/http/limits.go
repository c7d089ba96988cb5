package httpapi

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/socialops/socialops/domain"
)

var errRateLimited = &domain.Error{Code: "rate_limited", Message: "too many requests for this key; retry after the time in Retry-After"}

// errAuthRateLimited answers an address that failed authentication too often.
var errAuthRateLimited = &domain.Error{Code: "auth_rate_limited", Message: "too many failed authentications from this address; retry after the time in Retry-After"}

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

// blocked tells, without taking a token, whether key's bucket is empty, and
// how long until it holds one again.
func (l *limiters) blocked(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.keys[key]
	if !ok {
		return false, 0
	}
	tokens := b.lim.TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / float64(l.rps) * float64(time.Second))
}

// take uses one token of key's bucket when one is left.
func (l *limiters) take(key string, now time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls%10000 == 0 {
		for k, b := range l.keys {
			if now.Sub(b.seen) > 10*time.Minute && b.lim.TokensAt(now) >= float64(l.burst) {
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
	b.lim.AllowN(now, 1)
}

// guardAuthFailures stands in front of authentication: an address whose
// failed authentications (401 answers) used up its bucket gets 429
// auth_rate_limited with Retry-After before its credentials are even looked
// at, so keys, tokens and signatures cannot be guessed at speed. Successful
// requests cost nothing. The address is the connection's, or the one a
// trusted proxy forwarded (Deps.TrustedProxies).
func (h *handlers) guardAuthFailures(c *gin.Context) {
	if h.authFailures == nil {
		c.Next()
		return
	}
	ip := c.ClientIP()
	if blocked, wait := h.authFailures.blocked(ip, time.Now()); blocked {
		secs := int(math.Ceil(wait.Seconds()))
		c.Header("Retry-After", strconv.Itoa(max(secs, 1)))
		writeError(c, h.Logger, errAuthRateLimited)
		return
	}
	c.Next()
	if c.Writer.Status() == http.StatusUnauthorized {
		h.authFailures.take(ip, time.Now())
	}
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
