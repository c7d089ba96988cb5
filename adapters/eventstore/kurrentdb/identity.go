package kurrentdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/socialops/socialops/domain"
)

const (
	// IdentityStream holds the store's identity: one event, appended with
	// expected no-stream by whoever asks first.
	IdentityStream = "socialops-store-identity"
	// identityEventType starts with "$" so that, like the server's own
	// events, it stays out of ReadAll, SubscribeAll and HeadPosition: no
	// projector ever sees it. The stream itself is an ordinary one, which any
	// user that may append may write.
	identityEventType = "$socialops-store-identity"
)

type identityData struct {
	StoreID string `json:"store_id"`
}

// Identity returns the store's id, creating it the first time. Two callers
// racing both read the one that the no-stream append let through.
func (s *Store) Identity(ctx context.Context) (string, error) {
	for attempt := 0; attempt < 3; attempt++ {
		id, err := s.readIdentity(ctx)
		if err == nil {
			return id, nil
		}
		var missing *domain.StreamNotFoundError
		if !errors.As(err, &missing) {
			return "", err
		}
		data, _ := json.Marshal(identityData{StoreID: "kurrentdb-" + domain.RandomUUID(domain.CryptoRandom)})
		_, err = s.Append(ctx, IdentityStream, domain.NoStream(), domain.ProposedEvent{
			ID: domain.RandomUUID(domain.CryptoRandom), Type: identityEventType, Data: data, Metadata: []byte(`{}`),
		})
		var wrong *domain.WrongExpectedRevisionError
		if err != nil && !errors.As(err, &wrong) {
			return "", fmt.Errorf("kurrentdb: create store identity: %w", err)
		}
	}
	return "", errors.New("kurrentdb: store identity: stream " + IdentityStream + " neither readable nor creatable")
}

func (s *Store) readIdentity(ctx context.Context) (string, error) {
	evs, err := s.ReadStream(ctx, IdentityStream, domain.Forwards, 0, 1)
	if err != nil {
		return "", err
	}
	if len(evs) == 0 {
		return "", &domain.StreamNotFoundError{Stream: IdentityStream}
	}
	var d identityData
	if err := json.Unmarshal(evs[0].Data, &d); err != nil || d.StoreID == "" {
		return "", fmt.Errorf("kurrentdb: store identity in %s is unreadable", IdentityStream)
	}
	return d.StoreID, nil
}
