package domain

// NewEventRegistry returns a registry holding every event type of the product
// with its current schema version. Projections and commands share it.
func NewEventRegistry() *Registry {
	r := NewRegistry()
	r.Register(ThreadOpened{}, 1)
	r.Register(InboundMessageReceived{}, 1)
	r.Register(InboundEventClaimed{}, 1)
	r.Register(ChargeApplied{}, 1)
	r.Register(WalletCredited{}, 1)
	r.Register(ThreadStatusChanged{}, 1)
	r.Register(ThreadPriorityChanged{}, 1)
	r.Register(ThreadAssigned{}, 1)
	r.Register(NoteAdded{}, 1)
	r.Register(ReplyQueued{}, 1)
	r.Register(ChannelCreated{}, 1)
	r.Register(ChannelStatusChanged{}, 1)
	r.Register(DeliveryClaimed{}, 1)
	r.Register(DeliveryReleased{}, 1)
	r.Register(DeliverySendStarted{}, 1)
	r.Register(DeliveryAttemptFailed{}, 1)
	r.Register(ReplyDelivered{}, 1)
	r.Register(ReplyDeliveryFailed{}, 1)
	r.Register(RefundApplied{}, 1)
	r.Register(DeliveryCharged{}, 1)
	r.Register(DeliveryRefunded{}, 1)
	r.Register(DeliveryResolveFailed{}, 1)
	r.Register(WebhookSubscriptionDisabled{}, 1)
	return r
}
