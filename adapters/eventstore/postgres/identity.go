package postgres

import (
	"context"
	"fmt"

	"github.com/socialops/socialops/domain"
)

// Identity returns the store's id, made once (migrations/00008) with a random
// UUID: the first caller's insert wins and every caller reads the winner.
func (s *Store) Identity(ctx context.Context) (string, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO event_store_identity (id, store_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`,
		"postgres-"+domain.RandomUUID(domain.CryptoRandom)); err != nil {
		return "", fmt.Errorf("event store identity: %w", err)
	}
	var id string
	if err := s.pool.QueryRow(ctx, `SELECT store_id FROM event_store_identity WHERE id = 1`).Scan(&id); err != nil {
		return "", fmt.Errorf("event store identity: %w", err)
	}
	return id, nil
}
