package postgres_test

import (
	"testing"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/adapters/eventstore/eventstoretest"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

func TestContract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		s := pgstore.New(pgtest.NewPool(t), nil)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
