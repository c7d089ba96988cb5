package projections

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// Postgres text cannot hold U+0000, but an event's JSON can (\u0000), and
// events are never edited: one stored before the console refused NUL, or
// appended through another path or backend, must still be applied. Every
// projector therefore queues its SQL through queue, which drops NUL from the
// strings it writes. The event keeps the original; the audit endpoint shows it.
// (Go's JSON decoder already turns invalid UTF-8 into U+FFFD, so NUL is the
// only character of a decoded string Postgres refuses.)

// queue is b.Queue with NUL dropped from every string and []string argument.
func queue(b *pgx.Batch, sql string, args ...any) {
	for i, a := range args {
		switch v := a.(type) {
		case string:
			args[i] = storableText(v)
		case []string:
			args[i] = storableTexts(v)
		}
	}
	b.Queue(sql, args...)
}

// storableText drops the NULs of s.
func storableText(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

func storableTexts(l []string) []string {
	for i, s := range l {
		if strings.IndexByte(s, 0) >= 0 {
			out := make([]string, len(l))
			copy(out, l[:i])
			for j := i; j < len(l); j++ {
				out[j] = storableText(l[j])
			}
			return out
		}
	}
	return l
}
