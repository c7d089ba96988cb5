package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/socialops/socialops/domain"
)

// The delivery process manager drives each send_reply action to completed or
// failed. Every step is an event on the action's delivery stream, appended
// with the expected revision, so two workers never both own a step, and a
// worker that dies resumes (or is taken over after its lease) from the last
// recorded step:
//
//	claim → checks (provider, channel, account) → charge (on the wallet stream) →
//	send started → provider call → delivered | attempt failed (retry) | refund + failed
//
// A send started without a recorded answer means a worker died during the
// provider call; a provider error after the request may have reached the
// provider (a lost answer, a timeout) means the same. Telegram has no
// idempotency key, so sending again could deliver twice: such a delivery ends
// failed with delivery_outcome_unknown and its charge is refunded. Customers
// never get a reply twice and are never charged for one they may not have
// received; the audit trail shows exactly which step was reached.
//
// The fee is charged on the owner's wallet stream (reply_wallet.go), decided
// against the balance with an expected revision, so concurrent replies of one
// owner cannot spend the same money; the delivery stream records where the
// charge and its refund are (DeliveryCharged, DeliveryRefunded).

// ChannelFinder finds the channel bound to a thread's chat, active ones first
// (a read-model lookup: the channel's own stream then decides).
type ChannelFinder interface {
	FindChannel(ctx context.Context, instanceID, provider, chatID string) (channelID string, found bool, err error)
}

// AccountReader reads connected accounts and their bot tokens.
type AccountReader interface {
	ConnectedAccount(ctx context.Context, accountID string) (domain.ConnectedAccount, bool, error)
	BotToken(ctx context.Context, accountID string) (string, error)
}

// BalanceReader reads an owner's balance from the wallet read model together
// with the log position the read model is exact at (the wallet projector's
// checkpoint): every event at or below it is counted, none after it.
type BalanceReader interface {
	ProjectedBalance(ctx context.Context, ownerID string) (balance int64, at uint64, err error)
}

// ReplySender sends a text through a provider; failures are *domain.SendError.
// A sender that is also an OptionSender sends bot messages' options.
type ReplySender interface {
	SendMessage(ctx context.Context, token, chatID, text, parseMode string) (providerMessageID string, err error)
}

// ProviderSender delivers the replies of one provider whose destination
// comes from the instance's own settings and the thread, not from a bound
// channel and connected account (WeCom: the instance's app, the thread's
// user). Failures of Send are *domain.SendError, classified as ReplySender's.
type ProviderSender interface {
	// Recipient is where a reply on thread goes; a non-empty failCode ends
	// the delivery (refunded when charged).
	Recipient(ctx context.Context, instanceID string, thread domain.Thread) (to, failCode, failMsg string, err error)
	Send(ctx context.Context, instanceID, to, text string) (providerMessageID string, err error)
}

// DeliveryOptions tune the process manager.
type DeliveryOptions struct {
	Worker      string        // this process's name in claims
	FeeMicroUSD int64         // charged per delivered reply
	MaxAttempts int           // provider calls per action
	Lease       time.Duration // how long a claim holds before another worker may take over
	BaseBackoff time.Duration // first retry delay when the provider gives none; doubles per attempt
	MaxBackoff  time.Duration
	SendTimeout time.Duration
	// MaxResolveFailures bounds the drives that may fail to work out where
	// the reply goes (an error such as a bot token that does not decrypt);
	// the next failure ends the delivery as delivery_unresolvable, refunded.
	MaxResolveFailures int
	// RecordFor bounds how long the provider's answer is retried when
	// appending it fails (default: the lease). Until it is recorded the next
	// drive would have to treat the send as an unknown outcome.
	RecordFor time.Duration
	// AfterSend, for tests, runs after the provider answered and before the
	// answer is recorded; an error stops the drive there, as a crash would.
	AfterSend func(actionID string) error
}

// DeliveryManager is the reply-delivery process manager.
type DeliveryManager struct {
	s        *Service
	channels ChannelFinder
	accounts AccountReader
	balances BalanceReader
	sender   ReplySender
	// providers deliver the replies of providers without channels (WeCom).
	providers map[string]ProviderSender
	opts      DeliveryOptions
}

// NewDeliveryManager wires the process manager.
func NewDeliveryManager(s *Service, channels ChannelFinder, accounts AccountReader, balances BalanceReader, sender ReplySender, opts DeliveryOptions) *DeliveryManager {
	if opts.Worker == "" {
		opts.Worker = "worker-" + domain.RandomID("", s.random)[:8]
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.Lease <= 0 {
		opts.Lease = 2 * time.Minute
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 10 * time.Second
	}
	// A claim must outlast a provider call, or another worker could take over mid-call.
	if opts.Lease < 2*opts.SendTimeout {
		opts.Lease = 2 * opts.SendTimeout
	}
	if opts.MaxResolveFailures <= 0 {
		opts.MaxResolveFailures = DefaultMaxResolveFailures
	}
	if opts.RecordFor <= 0 {
		opts.RecordFor = opts.Lease
	}
	return &DeliveryManager{s: s, channels: channels, accounts: accounts, balances: balances, sender: sender, opts: opts,
		providers: map[string]ProviderSender{}}
}

// WithProviderSender delivers the replies of provider's threads through ps
// (charged, retried and refunded like every delivery), and returns m.
func (m *DeliveryManager) WithProviderSender(provider string, ps ProviderSender) *DeliveryManager {
	m.providers[provider] = ps
	return m
}

// DefaultMaxResolveFailures is how many drives may fail to resolve a reply's target.
const DefaultMaxResolveFailures = 5

// ErrLeaseHeld means another worker owns the delivery right now.
var ErrLeaseHeld = errors.New("delivery is claimed by another worker")

// errStopped is returned when the AfterSend hook stops a drive.
var errStopped = errors.New("delivery stopped by hook")

// target is where a reply goes, resolved from the thread, channel and account.
type target struct {
	channelID string
	chatID    string
	parseMode string
	token     string
	via       ProviderSender // nil: the Telegram sender
}

// Drive takes one action as far as it can: to completed or failed, or until
// ctx ends or another worker holds it. threadID locates the reply on the
// first claim.
func (m *DeliveryManager) Drive(ctx context.Context, actionID, threadID string) error {
	err := m.drive(ctx, actionID, threadID)
	if ctx.Err() != nil {
		m.release(actionID)
	}
	return err
}

// release gives up this worker's claim when it stops, so the next worker does
// not wait out the lease. An open send stays open: whoever resumes still
// treats it as an unknown outcome.
func (m *DeliveryManager) release(actionID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stream := domain.DeliveryStream(actionID)
	d, err := load(ctx, m.s, stream, domain.NewDelivery(actionID), domain.EvolveDelivery)
	if err != nil || d.Terminal() || d.Worker != m.opts.Worker || d.LeaseUntil.IsZero() {
		return
	}
	cc := Context{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "delivery:" + m.opts.Worker}, CorrelationID: actionID, OwnerID: d.Reply.OwnerID}
	if _, err := m.append(ctx, stream, d, cc, []domain.Event{domain.DeliveryReleased{ActionID: actionID, Worker: m.opts.Worker}}); err != nil {
		m.s.logger.Warn("could not release a delivery claim; it lapses with its lease", "action_id", actionID, "error", err)
	}
}

func (m *DeliveryManager) drive(ctx context.Context, actionID, threadID string) error {
	stream := domain.DeliveryStream(actionID)
	cc := Context{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "delivery:" + m.opts.Worker}, CorrelationID: actionID}
	var tgt *target
	waited := 0            // the attempt after which this drive already waited
	refundChecked := false // whether this drive looked for a wallet refund recorded without its failure
	// The stream is read once; each step this drive appends is folded in
	// locally (a conflict ends the drive: another worker owns the action).
	d, err := load(ctx, m.s, stream, domain.NewDelivery(actionID), domain.EvolveDelivery)
	if err != nil {
		return err
	}
	for i := 0; i < 1000; i++ {
		if d.Terminal() {
			return nil
		}
		cc.OwnerID = d.Reply.OwnerID
		now := m.s.now()

		// Claim, or renew a claim that would lapse during the next provider call.
		if d.Worker != m.opts.Worker || d.LeaseUntil.Sub(now) < m.opts.Lease/2 {
			if d.Claims > 0 && d.Worker != m.opts.Worker && now.Before(d.LeaseUntil) {
				return ErrLeaseHeld
			}
			claim, retracted, err := m.claim(ctx, d, threadID, now)
			if err != nil {
				return err
			}
			if d, err = m.step(ctx, stream, d, cc, claim); err != nil {
				return ignoreConflict(err)
			}
			if retracted {
				return m.fail(ctx, stream, d, cc, domain.DeliveryRetracted, "the message was retracted before it was sent")
			}
			continue
		}

		// A worker that stopped between refunding on the wallet and recording
		// the failure: finish that failure (the refund says why). Never send
		// a reply whose charge was refunded.
		if d.ChargeOnWallet && !d.Refunded && !refundChecked {
			refunded, found, err := m.findWalletRefund(ctx, d)
			if err != nil {
				return err
			}
			refundChecked = true
			if found {
				return m.finish(ctx, stream, d, cc, append(domain.FailDelivery(d, refunded.Reason,
					"the charge was refunded ("+refunded.Reason+") by a worker that stopped before recording the failure"), refunded))
			}
		}

		if d.SendOpen {
			return m.fail(ctx, stream, d, cc, domain.DeliveryOutcomeUnknown,
				fmt.Sprintf("a worker stopped after sending attempt %d and before recording the answer; not sent again to avoid a duplicate", d.Attempts))
		}

		if tgt == nil {
			t, failCode, failMsg, err := m.resolve(ctx, d)
			if err != nil {
				return m.resolveFailed(ctx, stream, d, cc, err)
			}
			if failCode != "" {
				return m.fail(ctx, stream, d, cc, failCode, failMsg)
			}
			tgt = t
		}

		if d.Charge == nil {
			charged, err := m.chargeWallet(ctx, d, cc)
			var de *domain.Error
			if errors.As(err, &de) && errors.Is(de, domain.ErrInsufficientBalance) {
				return m.fail(ctx, stream, d, cc, domain.DeliveryInsufficientBalance, de.Message)
			}
			if err != nil {
				return err
			}
			if d, err = m.step(ctx, stream, d, cc, charged); err != nil {
				return ignoreConflict(err)
			}
			refundChecked = true // just charged: nothing refunded it yet
			continue
		}

		if d.Attempts >= m.opts.MaxAttempts {
			return m.fail(ctx, stream, d, cc, domain.DeliveryRetriesExhausted,
				fmt.Sprintf("%d attempts failed; last error: %s", d.Attempts, d.LastError))
		}
		if d.Attempts > 0 && waited != d.Attempts {
			if err := m.waitBeforeRetry(ctx, d); err != nil {
				return err
			}
			waited = d.Attempts
			continue // re-check the claim: the wait may have outlasted half the lease
		}
		started := domain.DeliverySendStarted{ActionID: actionID, ThreadID: d.Reply.ThreadID, MessageID: d.Reply.MessageID,
			Attempt: d.Attempts + 1, ChannelID: tgt.channelID, ChatID: tgt.chatID}
		if d, err = m.step(ctx, stream, d, cc, started); err != nil {
			return ignoreConflict(err)
		}
		sendCtx, cancel := context.WithTimeout(ctx, m.opts.SendTimeout)
		var providerID string
		var sendErr error
		if tgt.via != nil {
			providerID, sendErr = tgt.via.Send(sendCtx, d.Reply.InstanceID, tgt.chatID, d.Reply.Text)
		} else {
			providerID, sendErr = m.sendTelegram(sendCtx, tgt, d.Reply)
		}
		cancel()
		if ctx.Err() != nil && sendErr != nil {
			// Stopped (shutdown, kill) during the call: the provider may or may
			// not have taken the message. Record nothing; whoever resumes finds
			// the send open and does not send again.
			return ctx.Err()
		}
		if m.opts.AfterSend != nil {
			if err := m.opts.AfterSend(actionID); err != nil {
				return errStopped
			}
		}
		// The answer is recorded even if this drive is being stopped, and
		// retried for a while when the store fails: unrecorded, it would be
		// an unknown outcome for the next drive.
		rctx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), m.opts.RecordFor)
		d, err = m.recordAnswer(rctx, stream, d, cc, providerID, sendErr)
		cancelRecord()
		if err != nil {
			if errors.Is(err, domain.ErrWrongExpectedRevision) {
				m.s.logger.Error("delivery answer could not be recorded: another worker took the action over",
					"action_id", actionID, "attempt", d.Attempts, "delivered", sendErr == nil)
			}
			return err
		}
	}
	return fmt.Errorf("delivery %s did not settle", actionID)
}

// recordAnswer records what the provider answered, retrying the append.
func (m *DeliveryManager) recordAnswer(ctx context.Context, stream string, d domain.Delivery, cc Context, providerID string, sendErr error) (domain.Delivery, error) {
	actionID := d.ActionID
	var se *domain.SendError
	switch {
	case sendErr == nil:
		return m.stepDurably(ctx, stream, d, cc, domain.ReplyDelivered{ActionID: actionID, ThreadID: d.Reply.ThreadID, MessageID: d.Reply.MessageID,
			ProviderMessageID: providerID, Attempts: d.Attempts})
	case errors.As(sendErr, &se) && se.Retryable:
		return m.stepDurably(ctx, stream, d, cc, domain.DeliveryAttemptFailed{ActionID: actionID, ThreadID: d.Reply.ThreadID, MessageID: d.Reply.MessageID,
			Attempt: d.Attempts, ErrorCode: se.Code, ErrorMessage: se.Message, RetryAfterMS: se.RetryAfter.Milliseconds()})
	case se != nil && !se.Unknown:
		return d, m.failDurably(ctx, stream, d, cc, domain.DeliveryRejected, se.Code+": "+se.Message)
	case se != nil:
		return d, m.failDurably(ctx, stream, d, cc, domain.DeliveryOutcomeUnknown,
			fmt.Sprintf("attempt %d: %s: %s; not sent again to avoid a duplicate", d.Attempts, se.Code, se.Message))
	default:
		// Not classified by the sender: it may have reached the provider.
		return d, m.failDurably(ctx, stream, d, cc, domain.DeliveryOutcomeUnknown,
			fmt.Sprintf("attempt %d failed with an unclassified error; not sent again to avoid a duplicate", d.Attempts))
	}
}

// resolveFailed records a drive that could not resolve the reply's target
// because of an error, and ends the delivery once that happened too often:
// otherwise a persistent error (a bot token that does not decrypt) would
// keep a charged action processing for ever.
func (m *DeliveryManager) resolveFailed(ctx context.Context, stream string, d domain.Delivery, cc Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	failures := d.ResolveFailures + 1
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	if failures >= m.opts.MaxResolveFailures {
		return m.fail(ctx, stream, d, cc, domain.DeliveryUnresolvable,
			fmt.Sprintf("the reply's target could not be resolved in %d drives; last error: %s", failures, msg))
	}
	if _, serr := m.step(ctx, stream, d, cc, domain.DeliveryResolveFailed{ActionID: d.ActionID, Failures: failures, ErrorMessage: msg}); serr != nil &&
		!errors.Is(serr, domain.ErrWrongExpectedRevision) {
		m.s.logger.Warn("could not record a failed resolve", "action_id", d.ActionID, "error", serr)
	}
	return err
}

// claim builds a claim; the first one copies the reply from the thread (its
// text as last edited), and says whether the reply was retracted before it
// was ever claimed: such a reply is never sent.
func (m *DeliveryManager) claim(ctx context.Context, d domain.Delivery, threadID string, now time.Time) (domain.DeliveryClaimed, bool, error) {
	c := d.Reply
	retracted := false
	if d.Claims == 0 {
		thread, err := m.s.loadThread(ctx, threadID)
		if err != nil {
			return c, false, err
		}
		var reply *domain.ReplyQueued
		for _, r := range thread.Replies {
			if r.ActionID == d.ActionID {
				r := r
				reply = &r
			}
		}
		if reply == nil {
			return c, false, fmt.Errorf("action %s is not a reply of thread %s", d.ActionID, threadID)
		}
		c = domain.DeliveryClaimed{ActionID: d.ActionID, ThreadID: reply.ThreadID, MessageID: reply.MessageID,
			InstanceID: reply.InstanceID, OwnerID: reply.OwnerID, Provider: reply.Provider, Text: reply.Text,
			Format: reply.Format, Silent: reply.Silent, ReplyToProviderID: reply.ReplyToProviderID}
		retracted = reply.Retracted
	}
	c.Worker, c.Claim, c.LeaseUntil = m.opts.Worker, d.Claims+1, now.Add(m.opts.Lease).UTC()
	return c, retracted, nil
}

// resolve finds where the reply goes; a non-empty failCode ends the delivery.
func (m *DeliveryManager) resolve(ctx context.Context, d domain.Delivery) (*target, string, string, error) {
	if ps, ok := m.providers[d.Reply.Provider]; ok {
		thread, err := m.s.loadThread(ctx, d.Reply.ThreadID)
		if err != nil {
			return nil, "", "", err
		}
		to, failCode, failMsg, err := ps.Recipient(ctx, d.Reply.InstanceID, thread)
		if err != nil || failCode != "" {
			return nil, failCode, failMsg, err
		}
		return &target{chatID: to, via: ps}, "", "", nil
	}
	if d.Reply.Provider != domain.ProviderTelegram {
		return nil, domain.DeliveryProviderNotSupported, fmt.Sprintf("replies cannot be delivered to %s threads yet", d.Reply.Provider), nil
	}
	thread, err := m.s.loadThread(ctx, d.Reply.ThreadID)
	if err != nil {
		return nil, "", "", err
	}
	channelID, found, err := m.channels.FindChannel(ctx, d.Reply.InstanceID, domain.ProviderTelegram, thread.ExternalThreadID)
	if err != nil {
		return nil, "", "", err
	}
	if !found {
		return nil, domain.DeliveryChannelNotFound, "no Telegram channel of this instance is bound to the thread's chat", nil
	}
	ch, err := load(ctx, m.s, domain.ChannelStream(channelID), domain.NewChannel(channelID), domain.EvolveChannel)
	if err != nil {
		return nil, "", "", err
	}
	if ch.Version < 0 || ch.Created.InstanceID != d.Reply.InstanceID {
		return nil, domain.DeliveryChannelNotFound, "the thread's channel does not exist", nil
	}
	if ch.Status != domain.ChannelActive {
		return nil, domain.DeliveryChannelInactive, "the thread's channel is inactive", nil
	}
	acct, found, err := m.accounts.ConnectedAccount(ctx, ch.Created.ConnectedAccountID)
	if err != nil {
		return nil, "", "", err
	}
	if !found || acct.OwnerID != d.Reply.OwnerID || acct.Provider != domain.AccountTelegramBot {
		return nil, domain.DeliveryAccountNotFound, "the channel's telegram-bot connected account does not exist", nil
	}
	if acct.Status != domain.AccountActive {
		return nil, domain.DeliveryAccountInactive, "the channel's telegram-bot connected account is inactive", nil
	}
	token, err := m.accounts.BotToken(ctx, acct.ID)
	if err != nil {
		return nil, "", "", err
	}
	mode := ch.Created.ParseMode
	if mode == domain.ParseModeNone {
		mode = ""
	}
	return &target{channelID: channelID, chatID: ch.Created.ExternalChannelID, parseMode: mode, token: token}, "", "", nil
}

func (m *DeliveryManager) waitBeforeRetry(ctx context.Context, d domain.Delivery) error {
	wait := m.opts.BaseBackoff << (d.Attempts - 1)
	if wait > m.opts.MaxBackoff || wait <= 0 {
		wait = m.opts.MaxBackoff
	}
	if ra := time.Duration(d.RetryAfterMS) * time.Millisecond; ra > 0 {
		wait = ra // the provider said when
	}
	return sleepCtx(ctx, wait)
}

func (m *DeliveryManager) append(ctx context.Context, stream string, d domain.Delivery, cc Context, events []domain.Event) (domain.AppendResult, error) {
	proposed := make([]domain.ProposedEvent, 0, len(events))
	for i, e := range events {
		// Ids derived from the step and the worker: this worker repeating a step
		// (after an unknown append outcome) proposes the same ids and stores it
		// once, while another worker's step at the same place is a conflict.
		id := domain.EventUUID(stream, fmt.Sprint(d.Version+1+int64(i)), e.EventType(), m.opts.Worker)
		p, err := m.s.encode(cc, id, e)
		if err != nil {
			return domain.AppendResult{}, err
		}
		proposed = append(proposed, p)
	}
	return m.s.log.Append(ctx, stream, domain.ExpectedFromVersion(d.Version), proposed...)
}

// step appends events and returns the state with them folded in.
func (m *DeliveryManager) step(ctx context.Context, stream string, d domain.Delivery, cc Context, events ...domain.Event) (domain.Delivery, error) {
	res, err := m.append(ctx, stream, d, cc, events)
	if err != nil {
		return d, err
	}
	for _, e := range events {
		raw := domain.RecordedEvent{Revision: uint64(d.Version + 1)}
		if len(events) == 1 {
			raw.Position = res.Position // exact only for a single event
		}
		d = domain.EvolveDelivery(d, domain.Envelope{Payload: e, Raw: raw})
	}
	return d, nil
}

// fail ends a delivery with an audit code. A charge on the wallet stream is
// refunded there first; the failure and DeliveryRefunded follow in one
// append (a worker stopping in between leaves a refund the next drive finds).
// A charge on the delivery stream is refunded with the failure.
func (m *DeliveryManager) fail(ctx context.Context, stream string, d domain.Delivery, cc Context, code, message string) error {
	events := domain.FailDelivery(d, code, message)
	if d.Charge != nil && d.ChargeOnWallet && !d.Refunded {
		refunded, err := m.refundWallet(ctx, d, cc, code)
		if err != nil {
			return err
		}
		events = append(events, refunded)
	}
	return m.finish(ctx, stream, d, cc, events)
}

// failDurably is fail with the final append retried, for an answer that must not be lost.
func (m *DeliveryManager) failDurably(ctx context.Context, stream string, d domain.Delivery, cc Context, code, message string) error {
	events := domain.FailDelivery(d, code, message)
	if d.Charge != nil && d.ChargeOnWallet && !d.Refunded {
		var refunded domain.DeliveryRefunded
		err := m.retrying(ctx, d.ActionID, func() error {
			var err error
			refunded, err = m.refundWallet(ctx, d, cc, code)
			return err
		})
		if err != nil {
			return err
		}
		events = append(events, refunded)
	}
	if _, err := m.stepDurably(ctx, stream, d, cc, events...); err != nil {
		return ignoreConflict(err)
	}
	m.logFailure(d, events)
	return nil
}

func (m *DeliveryManager) finish(ctx context.Context, stream string, d domain.Delivery, cc Context, events []domain.Event) error {
	if _, err := m.append(ctx, stream, d, cc, events); err != nil {
		return ignoreConflict(err)
	}
	m.logFailure(d, events)
	return nil
}

func (m *DeliveryManager) logFailure(d domain.Delivery, events []domain.Event) {
	if f, ok := events[0].(domain.ReplyDeliveryFailed); ok {
		m.s.logger.Warn("reply delivery failed", "action_id", d.ActionID, "thread_id", d.Reply.ThreadID,
			"error_code", f.ErrorCode, "error", f.ErrorMessage, "refunded", len(events) > 1)
	}
}

// stepDurably is step, retried with backoff while the store fails (a
// database hiccup, a batch timeout) until ctx ends. The event ids are the
// same on every try, so an append that was stored although it reported an
// error is not stored twice; a conflict (another worker took over) is final.
func (m *DeliveryManager) stepDurably(ctx context.Context, stream string, d domain.Delivery, cc Context, events ...domain.Event) (domain.Delivery, error) {
	next := d
	err := m.retrying(ctx, d.ActionID, func() error {
		var err error
		next, err = m.step(ctx, stream, d, cc, events...)
		return err
	})
	return next, err
}

// retrying runs f until it succeeds, conflicts, or ctx ends.
func (m *DeliveryManager) retrying(ctx context.Context, actionID string, f func() error) error {
	wait := 50 * time.Millisecond
	for try := 1; ; try++ {
		err := f()
		if err == nil || errors.Is(err, domain.ErrWrongExpectedRevision) {
			return err
		}
		m.s.logger.Warn("recording a delivery step failed; retrying", "action_id", actionID, "try", try, "error", err)
		if serr := sleepCtx(ctx, wait); serr != nil {
			return err
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// ignoreConflict: losing a race to another worker is not an error; it owns the action now.
func ignoreConflict(err error) error {
	if errors.Is(err, domain.ErrWrongExpectedRevision) {
		return nil
	}
	return err
}
