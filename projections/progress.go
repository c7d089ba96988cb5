package projections

import "context"

// Progress is told how far a replay has come: the position reached, the
// position it runs to, and how many events it has applied so far.
type Progress func(position, target uint64, events int)

type progressKey struct{}

// WithProgress returns a context whose replays (Rebuild, Verify, BuildShadow)
// report to p after every page.
func WithProgress(ctx context.Context, p Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

func progressOf(ctx context.Context) Progress {
	if p, ok := ctx.Value(progressKey{}).(Progress); ok && p != nil {
		return p
	}
	return func(uint64, uint64, int) {}
}
