package realtime

import (
	"context"
	"time"

	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// PresenceVia sets presence with the operator command, so the change is an
// event routing and agent.status_changed webhooks see.
func PresenceVia(svc *commands.Service) Presence {
	return func(ctx context.Context, inst domain.Instance, operatorID int64, presence string) error {
		p := presence
		_, err := svc.ChangeOperator(ctx, commands.ChangeOperator{Instance: inst, OperatorID: operatorID,
			Changes: domain.OperatorChanges{Presence: &p},
			Context: commands.Context{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "realtime"}, OwnerID: inst.OwnerID,
				InstanceAlias: inst.Alias}})
		return err
	}
}

// operatorConnected (h.mu held): the first connection sets the operator
// online; one within the grace period cancels the pending offline.
func (h *Hub) operatorConnected(c *conn) {
	k := presenceKey{c.inst.ID, c.operatorID}
	st := h.presence[k]
	if st == nil {
		st = &presenceState{inst: c.inst}
		h.presence[k] = st
	}
	st.count++
	h.report(st.inst, c.operatorID, st.count)
	if st.offAt != nil {
		st.offAt.Stop()
		st.offAt = nil
	}
	if !st.online {
		st.online = true
		h.setPresence(st.inst, c.operatorID, domain.PresenceOnline)
	}
}

// operatorDisconnected (h.mu held): the last connection starts the grace period.
func (h *Hub) operatorDisconnected(c *conn) {
	k := presenceKey{c.inst.ID, c.operatorID}
	st := h.presence[k]
	if st == nil {
		return
	}
	st.count--
	h.report(st.inst, c.operatorID, st.count)
	if st.count > 0 {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(h.opts.PresenceGrace, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if st.offAt != t || st.count > 0 {
			return
		}
		delete(h.presence, k)
		h.setPresence(st.inst, k.operatorID, domain.PresenceOffline)
	})
	st.offAt = t
}

// setPresence appends the presence change in the background, in order per
// operator (h.mu held: the goroutines start in the order of the changes). An
// operator still connected to another process does not go offline.
func (h *Hub) setPresence(inst domain.Instance, operatorID int64, presence string) {
	if h.opts.Presence == nil {
		return
	}
	h.serially(inst.ID, operatorID, func(ctx context.Context) {
		if presence == domain.PresenceOffline && h.opts.Peers != nil {
			n, err := h.opts.Peers.Elsewhere(ctx, h.process, inst.ID, operatorID, h.opts.PeerStale)
			if err != nil {
				h.opts.Logger.Warn("realtime: could not read other processes' connections; setting offline anyway",
					"instance_id", inst.ID, "operator_id", operatorID, "error", err)
			} else if n > 0 {
				h.opts.Logger.Debug("realtime: operator still connected to another process", "instance_id", inst.ID,
					"operator_id", operatorID, "connections", n)
				return
			}
		}
		if err := h.opts.Presence(ctx, inst, operatorID, presence); err != nil {
			h.opts.Logger.Warn("realtime: presence change failed", "instance_id", inst.ID, "operator_id", operatorID,
				"presence", presence, "error", err)
		}
	})
}

// report records this process's connection count of an operator in Peers
// (h.mu held), in order with the operator's presence changes.
func (h *Hub) report(inst domain.Instance, operatorID int64, n int) {
	if h.opts.Peers == nil {
		return
	}
	h.serially(inst.ID, operatorID, func(ctx context.Context) {
		if err := h.opts.Peers.Report(ctx, h.process, inst, operatorID, n); err != nil {
			h.opts.Logger.Warn("realtime: could not share the connection count", "instance_id", inst.ID,
				"operator_id", operatorID, "connections", n, "error", err)
		}
	})
}

// serially runs f in the background after the operator's earlier changes (h.mu held).
func (h *Hub) serially(instanceID string, operatorID int64, f func(ctx context.Context)) {
	k := presenceKey{instanceID, operatorID}
	done := make(chan struct{})
	prev := h.chain[k]
	h.chain[k] = done
	go func() {
		defer func() {
			close(done)
			h.mu.Lock()
			if h.chain[k] == done {
				delete(h.chain, k)
			}
			h.mu.Unlock()
		}()
		if prev != nil {
			<-prev
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		f(ctx)
	}()
}

// tendPeers refreshes this process's rows and sets offline the operators
// whose only connections were on a process that died (no graceful stop).
func (h *Hub) tendPeers(ctx context.Context) {
	t := time.NewTicker(h.opts.PeerHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := h.opts.Peers.Heartbeat(ctx, h.process); err != nil && ctx.Err() == nil {
			h.opts.Logger.Warn("realtime: presence heartbeat failed", "error", err)
		}
		gone, err := h.opts.Peers.Expire(ctx, h.opts.PeerStale)
		if err != nil {
			if ctx.Err() == nil {
				h.opts.Logger.Warn("realtime: expiring other processes' connections failed", "error", err)
			}
			continue
		}
		h.mu.Lock()
		for _, o := range gone {
			if st := h.presence[presenceKey{o.Instance.ID, o.OperatorID}]; st != nil && st.count > 0 {
				continue // connected here after all
			}
			h.opts.Logger.Info("realtime: operator's process stopped answering; setting offline",
				"instance_id", o.Instance.ID, "operator_id", o.OperatorID)
			h.setPresence(o.Instance, o.OperatorID, domain.PresenceOffline)
		}
		h.mu.Unlock()
	}
}
