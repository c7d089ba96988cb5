package domain

// WebhookSubscriptionStream names the stream of an outbound webhook
// subscription's events (only its automatic disabling, for now).
func WebhookSubscriptionStream(subscriptionID string) string {
	return "webhook-subscription-" + subscriptionID
}

// WebhookSubscriptionDisabled records that an outbound webhook subscription
// was disabled automatically after failing continuously for the configured
// window. The public catalogue publishes it as subscription.disabled.
type WebhookSubscriptionDisabled struct {
	SubscriptionID string `json:"subscription_id"`
	InstanceID     string `json:"instance_id"`
	Reason         string `json:"reason"`
	FailingSince   string `json:"failing_since"` // RFC 3339
}

func (WebhookSubscriptionDisabled) EventType() string { return "WebhookSubscriptionDisabled" }
