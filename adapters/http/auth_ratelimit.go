package httpapi

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/socialops/socialops/adapters/postgres"
)

// credentialLimits is a token bucket per credential, sized by the
// credential's own rate or the server's default (Deps.RateLimitRPS/Burst).
// The headers it sets on every answer:
//
//	X-RateLimit-Limit      the bucket's size (requests that may be sent at once)
//	X-RateLimit-Remaining  requests left in it after this one
//	X-RateLimit-Reset      seconds until it is full again
type credentialLimits struct {
	defaultRPS   float64
	defaultBurst int
	mu           sync.Mutex
	buckets      map[string]*credentialBucket
	calls        int
}

type credentialBucket struct {
	lim  *rate.Limiter
	rps  float64
	seen time.Time
}

func newCredentialLimits(rps float64, burst int) *credentialLimits {
	return &credentialLimits{defaultRPS: rps, defaultBurst: burst, buckets: map[string]*credentialBucket{}}
}

// size is a credential's rate and burst; rps 0 means no limit.
func (l *credentialLimits) size(key postgres.APIKey) (float64, int) {
	if key.RatePerSecond > 0 {
		// A credential's own rate allows bursts of two seconds' worth.
		return key.RatePerSecond, max(1, int(math.Ceil(2*key.RatePerSecond)))
	}
	if l.defaultRPS <= 0 {
		return 0, 0
	}
	return l.defaultRPS, max(1, l.defaultBurst)
}

// take uses one request of key's budget at now.
func (l *credentialLimits) take(key postgres.APIKey, now time.Time) (allowed bool, limit, remaining int, reset, retryAfter time.Duration) {
	rps, burst := l.size(key)
	if rps == 0 {
		return true, 0, 0, 0, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls%10000 == 0 {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
	}
	b, ok := l.buckets[key.ID]
	if !ok || b.rps != rps || b.lim.Burst() != burst {
		b = &credentialBucket{lim: rate.NewLimiter(rate.Limit(rps), burst), rps: rps}
		l.buckets[key.ID] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		allowed, retryAfter = false, d
	} else {
		allowed = true
	}
	tokens := b.lim.TokensAt(now)
	remaining = max(0, int(math.Floor(tokens)))
	reset = time.Duration((float64(burst) - tokens) / rps * float64(time.Second))
	return allowed, burst, remaining, reset, retryAfter
}

// limitCredential takes a request from key's budget and sets the rate-limit
// headers; over budget it answers 429 with Retry-After and returns false.
func (h *handlers) limitCredential(c *gin.Context, key postgres.APIKey) bool {
	allowed, limit, remaining, reset, wait := h.credentialLimits.take(key, time.Now())
	if limit > 0 {
		c.Header("X-RateLimit-Limit", strconv.Itoa(limit))
		c.Header("X-RateLimit-Remaining", strconv.Itoa(remaining))
		c.Header("X-RateLimit-Reset", strconv.Itoa(int(math.Ceil(reset.Seconds()))))
	}
	if allowed {
		return true
	}
	c.Header("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	writeError(c, h.Logger, errRateLimited)
	return false
}
