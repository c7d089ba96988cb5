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
	DeliveryOutcomeUnknown       = "delivery_outcome_unknown" // sent, but whether it arrived is unknown (answer lost, worker died)
	DeliveryUnresolvable         = "delivery_unresolvable"    // where the reply goes could not be worked out in the allowed drives
)

// DeliveryClaimed starts (or, after a stuck timeout, takes over) a delivery.
// The first claim copies what the delivery needs from ReplyQueued.
type DeliveryClaimed struct {
	ActionID   string `json:"action_id"`
	ThreadID   string `json:"thread_id"`
	MessageID  string `json:"message_id"`
	InstanceID string `json:"instance_id"`
	OwnerID    string `json:"owner_id"`
	Provider   string `json:"provider"`
	Text       string `json:"text"`
	// Copied from a bot message's ReplyQueued (see there).
	Format            string    `json:"format,omitempty"`
	Silent            bool      `json:"silent,omitempty"`
	ReplyToProviderID string    `json:"reply_to_provider_id,omitempty"`
	Worker            string    `json:"worker"`
	Claim             int       `json:"claim"`
	LeaseUntil        time.Time `json:"lease_until"`
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

// DeliveryCharged records that the reply's fee was charged on the owner's
// wallet stream: the ChargeApplied itself is there (at WalletPosition in the
// log), where the charge was decided against the owner's other charges with
// an expected revision. Deliveries recorded before that have their
// ChargeApplied on the delivery stream instead.
type DeliveryCharged struct {
	ActionID       string `json:"action_id"`
	ChargeID       string `json:"charge_id"`
	OwnerID        string `json:"owner_id"`
	AmountMicroUSD int64  `json:"amount_micro_usd"`
	WalletPosition uint64 `json:"wallet_position"`
}

func (DeliveryCharged) EventType() string { return "DeliveryCharged" }

// DeliveryRefunded records that a wallet-stream charge was refunded there
// (the RefundApplied is on the wallet stream, at WalletPosition).
type DeliveryRefunded struct {
	ActionID       string `json:"action_id"`
	RefundID       string `json:"refund_id"`
	ChargeID       string `json:"charge_id"`
	AmountMicroUSD int64  `json:"amount_micro_usd"`
	Reason         string `json:"reason"`
	WalletPosition uint64 `json:"wallet_position"`
}

func (DeliveryRefunded) EventType() string { return "DeliveryRefunded" }

// DeliveryResolveFailed records a drive that could not work out where the
// reply goes because of an error (a lookup failed, the bot token does not
// decrypt), as opposed to a decision such as an inactive channel. After
// enough of them the delivery fails as DeliveryUnresolvable.
type DeliveryResolveFailed struct {
	ActionID     string `json:"action_id"`
	Failures     int    `json:"failures"`
	ErrorMessage string `json:"error_message"`
}

func (DeliveryResolveFailed) EventType() string { return "DeliveryResolveFailed" }

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
	ActionID   string
	Version    int64
	Reply      DeliveryClaimed // from the first claim
	Claims     int
	Worker     string
	LeaseUntil time.Time
	Attempts   int  // sends started
	SendOpen   bool // a send started without a recorded answer
	Charge     *ChargeApplied
	Refunded   bool
	// ChargeOnWallet: the charge is on the owner's wallet stream (at
	// ChargePosition), so its refund goes there too; otherwise (deliveries
	// recorded before wallet-stream charges) both are on the delivery stream.
	ChargeOnWallet  bool
	ChargePosition  uint64
	FirstPosition   uint64 // log position of the stream's first event; 0 when unknown
	ResolveFailures int
	Status          string // pending, processing, completed, failed
	LastError       string
	RetryAfterMS    int64
	// ProviderMessageID is the provider's id of the delivered message.
	ProviderMessageID string
}

// NewDelivery is the state before the first event.
func NewDelivery(actionID string) Delivery {
	return Delivery{ActionID: actionID, Version: -1, Status: ActionPending}
}

// Terminal tells whether the delivery has ended.
func (d Delivery) Terminal() bool { return d.Status == ActionCompleted || d.Status == ActionFailed }

// EvolveDelivery applies one event.
func EvolveDelivery(d Delivery, env Envelope) Delivery {
	if d.Version < 0 {
		d.FirstPosition = env.Raw.Position
	}
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
	case DeliveryCharged:
		d.Charge = &ChargeApplied{ChargeID: e.ChargeID, OwnerID: e.OwnerID, AmountMicroUSD: e.AmountMicroUSD,
			Reason: ChargeReplyDelivery, ThreadID: d.Reply.ThreadID, MessageID: d.Reply.MessageID, ActionID: e.ActionID}
		d.ChargeOnWallet, d.ChargePosition = true, e.WalletPosition
	case DeliveryRefunded:
		d.Refunded = true
	case DeliveryResolveFailed:
		d.ResolveFailures = e.Failures
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
		d.ProviderMessageID = e.ProviderMessageID
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

// FailDelivery ends a delivery: the failure and, when a charge on the
// delivery stream stands, its refund of exactly the charged amount, in one
// append. A charge on the wallet stream is refunded there first (RefundFor),
// and DeliveryRefunded is appended with the failure.
func FailDelivery(d Delivery, code, message string) []Event {
	evs := []Event{ReplyDeliveryFailed{
		ActionID: d.ActionID, ThreadID: d.Reply.ThreadID, MessageID: d.Reply.MessageID,
		ErrorCode: code, ErrorMessage: message, Attempts: d.Attempts,
	}}
	if d.Charge != nil && !d.Refunded && !d.ChargeOnWallet {
		evs = append(evs, RefundFor(d, code))
	}
	return evs
}

// RefundFor is the refund of a delivery's charge, for a failure code. Its id
// derives from the charge, so a charge has one refund whoever issues it.
func RefundFor(d Delivery, code string) RefundApplied {
	return RefundApplied{
		RefundID: DerivedID(PrefixRefund, d.Charge.ChargeID), ChargeID: d.Charge.ChargeID, OwnerID: d.Charge.OwnerID,
		AmountMicroUSD: d.Charge.AmountMicroUSD, Reason: code, ActionID: d.ActionID, ThreadID: d.Reply.ThreadID,
	}
}

// ReplyChargeID names the fee of one reply.
func ReplyChargeID(actionID string) string { return DerivedID(PrefixCharge, "reply", actionID) }

// SendError is a provider's refusal or failure to deliver. Retryable errors
// (rate limits, the provider's own server errors, a request that never left)
// are tried again; Unknown ones (the request may have reached the provider but
// its answer was lost) end the delivery as DeliveryOutcomeUnknown, never sent
// again; others end the delivery at once as rejected.
type SendError struct {
	Code       string // e.g. "telegram_429", "telegram_400", "timeout"
	Message    string
	Retryable  bool
	Unknown    bool
	RetryAfter time.Duration // what the provider asked for, if anything
}

func (e *SendError) Error() string { return e.Code + ": " + e.Message }
