package domain

import "time"

// DeliveryStream names the stream of one send_reply action's delivery.
func DeliveryStream(actionID string) string { return "delivery-" + actionID }

// ReplyDeliveryFeeMicroUSD is the default price of one delivered reply.
const ReplyDeliveryFeeMicroUSD int64 = 200

// Audit codes of failed deliveries.
const (
	DeliveryProviderNotSupported = "provider_not_supported"
	DeliveryChannelNotFound      = "channel_not_found"
	DeliveryChannelInactive      = "channel_inactive"
	DeliveryAccountNotFound      = "account_not_found"
	DeliveryAccountInactive      = "account_inactive"
	DeliveryInsufficientBalance  = "insufficient_balance"
	DeliveryRejected             = "provider_rejected"        // 400/403: chat not found, bot blocked…
	DeliveryRetriesExhausted     = "retries_exhausted"        // 429/5xx/timeouts until the attempt limit
	DeliveryOutcomeUnknown       = "delivery_outcome_unknown" // the worker died between sending and recording
)

// DeliveryClaimed starts (or, after a stuck timeout, takes over) a delivery.
// The first claim copies what the delivery needs from ReplyQueued.
type DeliveryClaimed struct {
	ActionID   string    `json:"action_id"`
	ThreadID   string    `json:"thread_id"`
	MessageID  string    `json:"message_id"`
	InstanceID string    `json:"instance_id"`
	OwnerID    string    `json:"owner_id"`
	Provider   string    `json:"provider"`
	Text       string    `json:"text"`
	Worker     string    `json:"worker"`
	Claim      int       `json:"claim"`
	LeaseUntil time.Time `json:"lease_until"`
}

func (DeliveryClaimed) EventType() string { return "DeliveryClaimed" }

// DeliveryReleased gives a claim up before its lease ends (a worker shutting
// down), so another worker may take the delivery over at once.
type DeliveryReleased struct {
	ActionID string `json:"action_id"`
	Worker   string `json:"worker"`
}

func (DeliveryReleased) EventType() string { return "DeliveryReleased" }

// DeliverySendStarted is written just before the provider is called: a
// delivery found with a send started and no outcome died mid-call.
type DeliverySendStarted struct {
	ActionID  string `json:"action_id"`
	ThreadID  string `json:"thread_id"`
	MessageID string `json:"message_id"`
	Attempt   int    `json:"attempt"`
	ChannelID string `json:"channel_id"`
	ChatID    string `json:"chat_id"`
}

func (DeliverySendStarted) EventType() string { return "DeliverySendStarted" }

// DeliveryAttemptFailed records a provider answer that may be retried.
type DeliveryAttemptFailed struct {
	ActionID     string `json:"action_id"`
	ThreadID     string `json:"thread_id"`
	MessageID    string `json:"message_id"`
	Attempt      int    `json:"attempt"`
	ErrorCode    string `json:"error_code"`
	ErrorMessage string `json:"error_message"`
	RetryAfterMS int64  `json:"retry_after_ms"`
}

func (DeliveryAttemptFailed) EventType() string { return "DeliveryAttemptFailed" }

// ReplyDelivered completes a delivery with the provider's message id.
type ReplyDelivered struct {
	ActionID          string `json:"action_id"`
	ThreadID          string `json:"thread_id"`
	MessageID         string `json:"message_id"`
	ProviderMessageID string `json:"provider_message_id"`
	Attempts          int    `json:"attempts"`
}

func (ReplyDelivered) EventType() string { return "ReplyDelivered" }

// ReplyDeliveryFailed ends a delivery with an audit code and message.
type ReplyDeliveryFailed struct {
	ActionID     string `json:"action_id"`
	ThreadID     string `json:"thread_id"`
	MessageID    string `json:"message_id"`
	ErrorCode    string `json:"error_code"`
	ErrorMessage string `json:"error_message"`
	Attempts     int    `json:"attempts"`
}

func (ReplyDeliveryFailed) EventType() string { return "ReplyDeliveryFailed" }

// RefundApplied gives back exactly one charge.
type RefundApplied struct {
	RefundID       string `json:"refund_id"`
	ChargeID       string `json:"charge_id"`
	OwnerID        string `json:"owner_id"`
	AmountMicroUSD int64  `json:"amount_micro_usd"`
	Reason         string `json:"reason"`
	ActionID       string `json:"action_id,omitempty"`
	ThreadID       string `json:"thread_id,omitempty"`
}

func (RefundApplied) EventType() string { return "RefundApplied" }

// Delivery is the state of one action's delivery, folded from its stream.
type Delivery struct {
	ActionID     string
	Version      int64
	Reply        DeliveryClaimed // from the first claim
	Claims       int
	Worker       string
	LeaseUntil   time.Time
	Attempts     int  // sends started
	SendOpen     bool // a send started without a recorded answer
	Charge       *ChargeApplied
	Refunded     bool
	Status       string // pending, processing, completed, failed
	LastError    string
	RetryAfterMS int64
}

// NewDelivery is the state before the first event.
func NewDelivery(actionID string) Delivery {
	return Delivery{ActionID: actionID, Version: -1, Status: ActionPending}
}

// Terminal tells whether the delivery has ended.
func (d Delivery) Terminal() bool { return d.Status == ActionCompleted || d.Status == ActionFailed }

// EvolveDelivery applies one event.
func EvolveDelivery(d Delivery, env Envelope) Delivery {
	switch e := env.Payload.(type) {
	case DeliveryClaimed:
		if d.Claims == 0 {
			d.Reply = e
		}
		d.Claims = e.Claim
		d.Worker, d.LeaseUntil = e.Worker, e.LeaseUntil
		d.Status = ActionProcessing
	case DeliveryReleased:
		d.LeaseUntil = time.Time{}
	case ChargeApplied:
		c := e
		d.Charge = &c
	case DeliverySendStarted:
		d.Attempts = e.Attempt
		d.SendOpen = true
	case DeliveryAttemptFailed:
		d.SendOpen = false
		d.LastError = e.ErrorCode
		d.RetryAfterMS = e.RetryAfterMS
	case ReplyDelivered:
		d.SendOpen = false
		d.Status = ActionCompleted
	case ReplyDeliveryFailed:
		d.SendOpen = false
		d.Status = ActionFailed
		d.LastError = e.ErrorCode
	case RefundApplied:
		d.Refunded = true
	}
	d.Version = int64(env.Raw.Revision)
	return d
}

// FailDelivery ends a delivery: the failure and, when a charge stands, its
// refund of exactly the charged amount, in one append.
func FailDelivery(d Delivery, code, message string) []Event {
	evs := []Event{ReplyDeliveryFailed{
		ActionID: d.ActionID, ThreadID: d.Reply.ThreadID, MessageID: d.Reply.MessageID,
		ErrorCode: code, ErrorMessage: message, Attempts: d.Attempts,
	}}
	if d.Charge != nil && !d.Refunded {
		evs = append(evs, RefundApplied{
			RefundID: DerivedID(PrefixRefund, d.Charge.ChargeID), ChargeID: d.Charge.ChargeID, OwnerID: d.Charge.OwnerID,
			AmountMicroUSD: d.Charge.AmountMicroUSD, Reason: code, ActionID: d.ActionID, ThreadID: d.Reply.ThreadID,
		})
	}
	return evs
}

// SendError is a provider's refusal or failure to deliver. Retryable errors
// (rate limits, server errors, timeouts) are tried again; others end the
// delivery at once.
type SendError struct {
	Code       string // e.g. "telegram_429", "telegram_400", "timeout"
	Message    string
	Retryable  bool
	RetryAfter time.Duration // what the provider asked for, if anything
}

func (e *SendError) Error() string { return e.Code + ": " + e.Message }
