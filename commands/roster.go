package commands

import (
	"context"
	"encoding/json"

	"github.com/socialops/socialops/domain"
)

// loadRoster folds an instance's operators from the roster's snapshot (when
// there is one) and the events after it, and stores a new snapshot once
// enough events were read: the roster also counts every session, so its
// stream grows with the traffic.
func (s *Service) loadRoster(ctx context.Context, instanceID string) (domain.Roster, error) {
	stream := domain.RosterStream(instanceID)
	state := domain.NewRoster(instanceID)
	if s.snapshots != nil {
		version, raw, found, err := s.snapshots.LoadSnapshot(ctx, stream, domain.RosterSnapshotVersion)
		if err == nil && found {
			var snap domain.Roster
			if json.Unmarshal(raw, &snap) == nil && snap.Version == version && snap.InstanceID == instanceID {
				state = snap.WithMaps()
			}
		}
	}
	return s.loadRosterAfter(ctx, state)
}

// rosterSnapshotEvery is the roster's snapshot interval, in events.
const rosterSnapshotEvery = 1000

// loadRosterAfter folds the roster's events after the state's version.
func (s *Service) loadRosterAfter(ctx context.Context, state domain.Roster) (domain.Roster, error) {
	stream := domain.RosterStream(state.InstanceID)
	from := uint64(state.Version + 1)
	before := state.Version
	state, _, err := loadFrom(ctx, s, stream, from, state, domain.EvolveRoster)
	if err != nil {
		return state, err
	}
	// A snapshot each time the version passes a multiple of
	// rosterSnapshotEvery: the routing manager reads a few hundred new
	// events per batch, and a snapshot holds every open session.
	if s.snapshots != nil && (state.Version+1)/rosterSnapshotEvery > (before+1)/rosterSnapshotEvery {
		if raw, err := json.Marshal(state); err == nil {
			if err := s.snapshots.SaveSnapshot(ctx, stream, domain.RosterSnapshotVersion, state.Version, raw); err != nil {
				s.logger.Warn("roster snapshot not saved", "instance_id", state.InstanceID, "error", err)
			}
		}
	}
	return state, nil
}

// changeRoster runs a roster command: decide on the roster and append with
// its revision, retrying after concurrent changes.
func (s *Service) changeRoster(ctx context.Context, inst domain.Instance, cc Context,
	decide func(domain.Roster) ([]domain.Event, error),
) (domain.Roster, []domain.Event, uint64, error) {
	cc.OwnerID, cc.InstanceAlias = inst.OwnerID, inst.Alias
	return decideAndAppend(ctx, s, domain.RosterStream(inst.ID), cc,
		func() (domain.Roster, int64, error) {
			r, err := s.loadRoster(ctx, inst.ID)
			return r, r.Version, err
		},
		decide, nil, nil)
}

// Roster returns an instance's operators as the roster holds them now.
func (s *Service) Roster(ctx context.Context, instanceID string) (domain.Roster, error) {
	return s.loadRoster(ctx, instanceID)
}
