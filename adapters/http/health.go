package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

func (h *handlers) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 when the database and the event store answer, else 503
// naming which one failed.
func (h *handlers) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := gin.H{}
	ready := true
	for name, p := range map[string]Pinger{"database": h.Database, "eventstore": h.EventStore} {
		if p == nil {
			continue
		}
		if err := p.Ping(ctx); err != nil {
			ready = false
			checks[name] = gin.H{"status": "unavailable", "error": err.Error()}
			continue
		}
		checks[name] = gin.H{"status": "ok"}
	}
	if h.Projections != nil {
		if err := h.Projections.Healthy(); err != nil {
			ready = false
			checks["projections"] = gin.H{"status": "halted", "error": err.Error()}
		} else {
			checks["projections"] = gin.H{"status": "ok"}
		}
	}
	if !ready {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "checks": checks, "roles": h.heldRoles()})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "checks": checks, "roles": h.heldRoles()})
}
