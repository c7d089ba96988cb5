package httpapi

import (
	"time"

	"github.com/gin-gonic/gin"
)

// RequestObserver records answered requests (metrics.HTTP). route is the
// matched route template, empty when no route matched; it is never the raw
// path, so the number of series stays bounded.
type RequestObserver interface {
	ObserveRequest(route, method string, status int, elapsed time.Duration)
}

// observeRequests is the outermost middleware: it sees the final status of
// every request, panics and timeouts included.
func observeRequests(o RequestObserver) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		o.ObserveRequest(c.FullPath(), c.Request.Method, c.Writer.Status(), time.Since(start))
	}
}
