package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

func (h *handlers) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readinessCheck is one thing /readyz looks at. /readyz is public, so a failed
// check shows only a status word; what went wrong (hosts, users, SQL errors,
// projector errors) goes to the log.
type readinessCheck struct {
	name string
	// failed is the word shown when check returns an error, unless the error
	// names its own (ReadinessStatus).
	failed string
	check  func(ctx context.Context) error
}

// ReadinessStatus may be implemented by an error a check returns to choose
// the status word /readyz shows for it (for example "parked").
type ReadinessStatus interface {
	ReadinessStatus() string
}

// readinessChecks lists what /readyz checks, from the dependencies given.
func readinessChecks(d Deps) []readinessCheck {
	var checks []readinessCheck
	if d.Database != nil {
		checks = append(checks, readinessCheck{name: "database", failed: "down", check: d.Database.Ping})
	}
	if d.EventStore != nil {
		checks = append(checks, readinessCheck{name: "eventstore", failed: "down", check: d.EventStore.Ping})
	}
	if d.Projections != nil {
		checks = append(checks, readinessCheck{name: "projections", failed: "halted",
			check: func(context.Context) error { return d.Projections.Healthy() }})
	}
	return checks
}

// readyz answers 200 {"status":"ready","checks":{name:"ok",…}} when every
// check passes, else 503 {"status":"not_ready","checks":{name:"down"|…}}.
func (h *handlers) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := make(map[string]string, len(h.checks))
	ready := true
	for _, rc := range h.checks {
		err := rc.check(ctx)
		if err == nil {
			checks[rc.name] = "ok"
			continue
		}
		ready = false
		word := rc.failed
		var named ReadinessStatus
		if errors.As(err, &named) && named.ReadinessStatus() != "" {
			word = named.ReadinessStatus()
		}
		checks[rc.name] = word
		h.Logger.Warn("readiness check failed", "check", rc.name, "status", word, "request_id", requestID(c), "error", err)
	}
	if !ready {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not_ready", "checks": checks, "roles": h.heldRoles()})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "checks": checks, "roles": h.heldRoles()})
}
