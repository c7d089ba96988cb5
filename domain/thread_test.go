package domain_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

func apply(t domain.Thread, events ...domain.Event) domain.Thread {
	for _, e := range events {
		t = domain.EvolveThread(t, domain.Envelope{Payload: e, Raw: domain.RecordedEvent{Revision: uint64(t.Version + 1), Position: uint64(t.Version + 10)}})
	}
	return t
}

func inbound(eventID string) domain.ReceiveInbound {
	return domain.ReceiveInbound{
		Instance:    domain.Instance{ID: "soinst_1", Alias: "support", OwnerID: "o"},
		Message:     domain.InboundMessage{Provider: "telegram", ProviderEventID: eventID, ExternalThreadID: "-100", Subject: "S", MessageType: "text", Text: "hi", Labels: []string{"ops", "High"}},
		FeeMicroUSD: 200,
	}
}

func TestDecideInbound(t *testing.T) {
	id := domain.InboundThreadID("soinst_1", "telegram", "-100")
	th := domain.NewThread(id)
	evs, out := domain.DecideInbound(th, inbound("1"))
	require.Len(t, evs, 4, "opened, session queued, message, charge")
	opened := evs[0].(domain.ThreadOpened)
	assert.Equal(t, domain.SessionReasonOpened, evs[1].(domain.SessionQueued).Reason)
	assert.Equal(t, domain.PriorityHigh, opened.Priority)
	assert.Equal(t, domain.StatusOpen, opened.Status)
	charge := evs[3].(domain.ChargeApplied)
	assert.Equal(t, int64(200), charge.AmountMicroUSD)
	assert.Equal(t, out.MessageID, charge.MessageID)
	assert.False(t, out.Duplicate)

	th = apply(th, evs...)
	evs2, out2 := domain.DecideInbound(th, inbound("2"))
	assert.Len(t, evs2, 2, "no second opening")
	assert.NotEqual(t, out.MessageID, out2.MessageID)

	dup, out3 := domain.DecideInbound(th, inbound("1"))
	assert.Empty(t, dup)
	assert.True(t, out3.Duplicate)
	assert.Equal(t, out.MessageID, out3.MessageID)
	assert.Equal(t, uint64(th.Version+9), out3.Position, "the position of the original append's last event (its charge)")
}

func TestPriorityFromLabels(t *testing.T) {
	assert.Equal(t, "urgent", domain.PriorityFromLabels([]string{"ops", "urgent", "high"}))
	assert.Equal(t, "high", domain.PriorityFromLabels([]string{" HIGH "}))
	assert.Equal(t, "low", domain.PriorityFromLabels([]string{"low"}))
	assert.Equal(t, "high", domain.PriorityFromLabels([]string{"low", "high"}))
	assert.Equal(t, "normal", domain.PriorityFromLabels(nil))
}

func TestDecideThreadChanges(t *testing.T) {
	th := apply(domain.NewThread("soth_1"), domain.ThreadOpened{ThreadID: "soth_1", InstanceID: "i", Status: "open", Priority: "normal"})
	s, p, a := "pending", "normal", " ops "
	evs, err := domain.DecideThreadChanges(th, "i", domain.ThreadChanges{Status: &s, Priority: &p, Assignee: &a})
	require.NoError(t, err)
	require.Len(t, evs, 2, "priority unchanged: no event")
	assert.Equal(t, domain.ThreadStatusChanged{ThreadID: "soth_1", From: "open", To: "pending"}, evs[0])
	assert.Equal(t, domain.ThreadAssigned{ThreadID: "soth_1", From: "", To: "ops"}, evs[1])

	_, err = domain.DecideThreadChanges(th, "other-instance", domain.ThreadChanges{Status: &s})
	assert.ErrorIs(t, err, domain.ErrThreadNotFound)
	bad := "closed"
	_, err = domain.DecideThreadChanges(th, "i", domain.ThreadChanges{Status: &bad})
	assert.ErrorIs(t, err, domain.ErrInvalidField)
	_, err = domain.DecideThreadChanges(th, "i", domain.ThreadChanges{})
	assert.ErrorIs(t, err, domain.ErrMissingField)
}

func TestChannelRules(t *testing.T) {
	acct := domain.ConnectedAccount{ID: "conn_1", OwnerID: "o", Provider: "telegram-bot", Status: "active"}
	base := domain.CreateChannelCommand{ChannelID: "sochan_1", InstanceID: "i", OwnerID: "o", Provider: "telegram", ConnectedAccountID: "conn_1",
		ChannelName: "Support", ExternalChannelID: "-1001234567890", ParseMode: "HTML", Account: acct, AccountFound: true}
	evs, err := domain.DecideCreateChannel(base)
	require.NoError(t, err)
	assert.Equal(t, "active", evs[0].(domain.ChannelCreated).Status)

	cases := map[string]struct {
		change func(*domain.CreateChannelCommand)
		want   *domain.Error
	}{
		"other owner":     {func(c *domain.CreateChannelCommand) { c.Account.OwnerID = "x" }, domain.ErrAccountNotOwned},
		"missing account": {func(c *domain.CreateChannelCommand) { c.AccountFound = false }, domain.ErrAccountNotOwned},
		"inactive":        {func(c *domain.CreateChannelCommand) { c.Account.Status = "inactive" }, domain.ErrAccountInactive},
		"not a bot":       {func(c *domain.CreateChannelCommand) { c.Account.Provider = "slack-app" }, domain.ErrAccountProviderMismatch},
		"parse mode":      {func(c *domain.CreateChannelCommand) { c.ParseMode = "Markdown" }, domain.ErrInvalidField},
		"chat id":         {func(c *domain.CreateChannelCommand) { c.ExternalChannelID = "chat 42" }, domain.ErrInvalidField},
		"no name":         {func(c *domain.CreateChannelCommand) { c.ChannelName = " " }, domain.ErrMissingField},
	}
	for name, tc := range cases {
		cmd := base
		tc.change(&cmd)
		_, err := domain.DecideCreateChannel(cmd)
		assert.ErrorIs(t, err, tc.want, name)
	}
}

func TestFailDeliveryRefundsExactlyTheCharge(t *testing.T) {
	d := domain.NewDelivery("soact_1")
	assert.Len(t, domain.FailDelivery(d, domain.DeliveryChannelNotFound, "x"), 1, "nothing charged, nothing refunded")
	d = domain.EvolveDelivery(d, domain.Envelope{Payload: domain.ChargeApplied{ChargeID: "sochg_1", OwnerID: "o", AmountMicroUSD: 250}})
	evs := domain.FailDelivery(d, domain.DeliveryRejected, "blocked")
	require.Len(t, evs, 2)
	refund := evs[1].(domain.RefundApplied)
	assert.Equal(t, "sochg_1", refund.ChargeID)
	assert.Equal(t, int64(250), refund.AmountMicroUSD)
	d = domain.EvolveDelivery(d, domain.Envelope{Payload: refund})
	assert.Len(t, domain.FailDelivery(d, domain.DeliveryRejected, "again"), 1, "never refunded twice")
}
