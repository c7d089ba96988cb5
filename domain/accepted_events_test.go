package domain_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

// accept folds a new inbound message (and its charge) into th.
func accept(t testing.TB, th domain.Thread, eventID string) domain.Thread {
	evs, out := domain.DecideInbound(th, inbound(eventID))
	require.False(t, out.Duplicate, eventID)
	return apply(th, evs...)
}

// A chat's thread is forked for every webhook (the commands' thread cache):
// each fork sees every earlier message, its own additions stay its own, and
// the state a fork came from never changes, across the merges of its layers.
func TestForkedThreadsShareNothingTheyWrite(t *testing.T) {
	id := domain.InboundThreadID("soinst_1", "telegram", "-100")
	th := domain.NewThread(id)
	var states []domain.Thread
	for i := range 300 {
		states = append(states, th)
		th = accept(t, th.Forked(), fmt.Sprint(i))
	}
	for i, st := range states {
		assert.Equal(t, i, st.ProviderEvents.Len(), "state %d", i)
		for j := range 300 {
			_, held := st.AcceptedInbound(domain.InboundEventOf("soinst_1", inbound(fmt.Sprint(j)).Message))
			require.Equal(t, j < i, held, "state %d, event %d", i, j)
		}
	}
	// Two forks of one state: what one adds the other does not see.
	a, b := th.Forked(), th.Forked()
	a = accept(t, a, "only-a")
	b = accept(t, b, "only-b")
	_, inB := b.AcceptedInbound(domain.InboundEventOf("soinst_1", inbound("only-a").Message))
	_, inTh := th.AcceptedInbound(domain.InboundEventOf("soinst_1", inbound("only-b").Message))
	assert.False(t, inB)
	assert.False(t, inTh)
	assert.Equal(t, 301, a.ProviderEvents.Len())
	// Every fork answers a duplicate as the whole fold does, with the
	// original's position.
	whole := domain.NewThread(id)
	for i := range 300 {
		whole = accept(t, whole, fmt.Sprint(i))
	}
	for j := range 300 {
		_, want := domain.DecideInbound(whole, inbound(fmt.Sprint(j)))
		_, got := domain.DecideInbound(th, inbound(fmt.Sprint(j)))
		require.Equal(t, want, got, "event %d", j)
		require.True(t, got.Duplicate)
	}
}

// A fork's reply changes leave the state it came from as it was.
func TestForkedThreadCopiesRepliesOnChange(t *testing.T) {
	th := apply(domain.NewThread("soth_1"), domain.ThreadOpened{ThreadID: "soth_1", InstanceID: "i", Status: "open", Priority: "normal"},
		domain.ReplyQueued{MessageID: "m1", Text: "first"})
	f := apply(th.Forked(), domain.MessageEdited{MessageID: "m1", To: "edited"}, domain.ReplyQueued{MessageID: "m2", Text: "second"})
	g := apply(th.Forked(), domain.MessageRetracted{MessageID: "m1"})
	assert.Equal(t, "first", th.Replies["m1"].Text)
	assert.False(t, th.Replies["m1"].Retracted)
	assert.NotContains(t, th.Replies, "m2")
	assert.Equal(t, "edited", f.Replies["m1"].Text)
	assert.Contains(t, f.Replies, "m2")
	assert.True(t, g.Replies["m1"].Retracted)
	assert.Equal(t, "first", g.Replies["m1"].Text)
}

// Snapshots keep the provider events as one JSON object, as before the
// layers: a snapshot written by either shape reads back the same events.
func TestAcceptedEventsJSONIsOneObject(t *testing.T) {
	th := domain.NewThread(domain.InboundThreadID("soinst_1", "telegram", "-100"))
	for i := range 100 {
		th = accept(t, th.Forked(), fmt.Sprint(i))
	}
	raw, err := json.Marshal(th.ProviderEvents)
	require.NoError(t, err)
	var flat map[string]domain.AcceptedEvent
	require.NoError(t, json.Unmarshal(raw, &flat))
	assert.Len(t, flat, 100)

	var back domain.AcceptedEvents
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, 100, back.Len())
	for k, v := range flat {
		got, ok := back.Get(k)
		require.True(t, ok, k)
		require.Equal(t, v, got)
	}
	empty, err := json.Marshal(domain.NewThread("soth_2").ProviderEvents)
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(empty))

	// A whole thread, as the snapshot store holds it.
	snap, err := json.Marshal(th)
	require.NoError(t, err)
	var decoded domain.Thread
	require.NoError(t, json.Unmarshal(snap, &decoded))
	assert.Equal(t, 100, decoded.ProviderEvents.Len())
	var old struct {
		ProviderEvents map[string]domain.AcceptedEvent
	}
	require.NoError(t, json.Unmarshal(snap, &old))
	assert.True(t, maps.Equal(flat, old.ProviderEvents))
}
