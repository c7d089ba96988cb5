// Package metrics is SocialOps' Prometheus instrumentation: one registry per
// process (never the client library's global default), the series the parts
// of the service record, and the /metrics handler and server.
//
// Only this package and cmd/ import the Prometheus client. A part that records
// gets the narrow value it needs (HTTP, EventStore, Deliveries, …) through a
// hook declared in its own package (httpapi.Deps.Metrics, the Postgres store's
// SetObserver, deliveryworker.Options.OnOutcome), so it stays testable without
// metrics and the hook costs nothing when nil.
//
// Labels carry only bounded, non-secret values: route templates, methods,
// statuses, outcomes, follower names. Never raw paths, ids, keys or tokens.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "socialops"

// Metrics holds the registry and every series family of one process.
type Metrics struct {
	Registry   *prometheus.Registry
	HTTP       *HTTP
	EventStore *EventStore
	Deliveries *Deliveries
	Webhooks   *Webhooks
	WebSockets *WebSockets
	Election   *Election
}

// New registers every series on a fresh registry, with the Go runtime and
// process collectors and socialops_build_info.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry:   reg,
		HTTP:       newHTTP(reg),
		EventStore: newEventStore(reg),
		Deliveries: newDeliveries(reg),
		Webhooks:   newWebhooks(reg),
		WebSockets: newWebSockets(reg),
		Election:   newElection(reg),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(),
	)
	return m
}

// buildInfo is socialops_build_info{version,revision,goversion} 1, read from
// the binary's embedded build information.
func buildInfo() prometheus.Collector {
	version, revision := "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels say which build of SocialOps runs.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

// Handler serves the registry in the Prometheus text format. A collector
// that fails (the followers' collector when the database is down) is logged
// and left out; the rest of the scrape is still served.
func (m *Metrics) Handler(logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		ErrorLog:            slogPrinter{logger.With("component", "metrics")},
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.Registry, // counts its own errors: promhttp_metric_handler_errors_total
		MaxRequestsInFlight: 4,
		Timeout:             20 * time.Second,
	})
}

// Server is the HTTP server of the metrics listen address: GET /metrics only.
func (m *Metrics) Server(logger *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler(logger))
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

type slogPrinter struct{ logger *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.logger.Warn("metrics scrape error", "error", fmt.Sprint(v...))
}
