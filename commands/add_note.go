package commands

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// AddNote adds an internal note to a thread.
type AddNote struct {
	InstanceID string
	ThreadID   string
	Text       string
	Context    Context
}

// NoteResult is the stored note.
type NoteResult struct {
	Note     domain.NoteAdded
	Position uint64
}

// AddNote appends a NoteAdded event. Notes are never delivered anywhere.
func (s *Service) AddNote(ctx context.Context, cmd AddNote) (NoteResult, error) {
	msgID := domain.RandomID(domain.PrefixMessage, s.random)
	res, err := s.changeThread(ctx, cmd.ThreadID, cmd.Context, func(t domain.Thread) ([]domain.Event, error) {
		return domain.DecideNote(t, cmd.InstanceID, msgID, cmd.Context.Actor.ID, cmd.Text)
	}, nil)
	if err != nil {
		return NoteResult{}, err
	}
	return NoteResult{Note: res.Events[0].(domain.NoteAdded), Position: res.Position}, nil
}
