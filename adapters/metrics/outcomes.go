package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/socialops/socialops/adapters/deliveryworker"
)

// Deliveries counts reply delivery outcomes (deliveryworker.Outcome…).
type Deliveries struct {
	total *prometheus.CounterVec
}

func newDeliveries(reg prometheus.Registerer) *Deliveries {
	d := &Deliveries{total: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "reply_deliveries_total",
		Help: "Reply delivery outcomes read from the log by the delivery follower: delivered, retried (one failed attempt), failed, unknown (delivery_outcome_unknown).",
	}, []string{"outcome"})}
	for _, o := range deliveryworker.Outcomes {
		d.total.WithLabelValues(o)
	}
	reg.MustRegister(d.total)
	return d
}

// Observe counts one outcome; it is deliveryworker.Options.OnOutcome.
// Unknown values are ignored, so the label set stays bounded.
func (d *Deliveries) Observe(outcome string) {
	for _, o := range deliveryworker.Outcomes {
		if o == outcome {
			d.total.WithLabelValues(outcome).Inc()
			return
		}
	}
}

// Outbound webhook attempt outcomes, the outcome label of
// socialops_webhook_attempts_total.
const (
	WebhookDelivered = "delivered" // the endpoint answered 2xx
	WebhookRetried   = "retried"   // the attempt failed; another is scheduled
	WebhookFailed    = "failed"    // the attempt failed and the schedule is exhausted
)

// Webhooks counts outbound webhook attempts. Reserved: outbound webhooks do
// not exist yet; the series is exported (at 0) so dashboards and alerts can
// be written now, and the sender only has to call Attempt.
type Webhooks struct {
	attempts *prometheus.CounterVec
}

func newWebhooks(reg prometheus.Registerer) *Webhooks {
	w := &Webhooks{attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "webhook_attempts_total",
		Help: "Outbound webhook delivery attempts by outcome: delivered, retried, failed (reserved: no sender yet).",
	}, []string{"outcome"})}
	for _, o := range []string{WebhookDelivered, WebhookRetried, WebhookFailed} {
		w.attempts.WithLabelValues(o)
	}
	reg.MustRegister(w.attempts)
	return w
}

// Attempt counts one attempt with one of the Webhook… outcomes; other values
// are ignored.
func (w *Webhooks) Attempt(outcome string) {
	switch outcome {
	case WebhookDelivered, WebhookRetried, WebhookFailed:
		w.attempts.WithLabelValues(outcome).Inc()
	}
}

// WebSockets tracks open WebSocket connections: the realtime hub calls
// Connected when a client is accepted and Disconnected when that connection ends.
type WebSockets struct {
	open prometheus.Gauge
}

func newWebSockets(reg prometheus.Registerer) *WebSockets {
	w := &WebSockets{open: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "websocket_connections",
		Help: "WebSocket connections open in this process.",
	})}
	reg.MustRegister(w.open)
	return w
}

// Connected counts a new connection.
func (w *WebSockets) Connected() { w.open.Inc() }

// Disconnected uncounts a connection that ended.
func (w *WebSockets) Disconnected() { w.open.Dec() }
