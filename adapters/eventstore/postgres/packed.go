package postgres

import "fmt"

// packedBodies carries the data and metadata of a batch's events to
// Postgres as one bytea parameter and the 1-based offset and length of each
// body in it (issue 21). Passed as two bytea[] parameters, pgx encoded them
// element by element into a buffer that starts small, grows by doubling and
// is dropped after each query: about seven bytes allocated per byte of
// event, a third of what a webhook allocated. One parameter is copied once.
// The query rebuilds the arrays the append functions take (unpackSQL).
type packedBodies struct {
	blob             []byte
	offsets, lengths []int32 // data of event i at 2i, its metadata at 2i+1
}

func packBodies(n, size int) *packedBodies {
	return &packedBodies{blob: make([]byte, 0, size), offsets: make([]int32, 0, 2*n), lengths: make([]int32, 0, 2*n)}
}

// add appends one event's data and metadata.
func (p *packedBodies) add(data, meta []byte) {
	for _, b := range [][]byte{data, meta} {
		p.offsets = append(p.offsets, int32(len(p.blob)+1))
		p.lengths = append(p.lengths, int32(len(b)))
		p.blob = append(p.blob, b...)
	}
}

// unpackSQL is the SQL of the bytea[] of the data (part 0) or the metadata
// (part 1) of the events, in their order, from the offsets, lengths and blob
// parameters $off, $len and $blob. Each element is a slice of the blob, never
// NULL: an empty body is an empty bytea.
func unpackSQL(part, off, length, blob int) string {
	return fmt.Sprintf(`ARRAY(SELECT substring($%[3]d::bytea FROM u.o FOR u.l) FROM unnest($%[1]d::int[], $%[2]d::int[]) WITH ORDINALITY AS u(o, l, k)
		WHERE u.k %% 2 = %[4]d ORDER BY u.k)`, off, length, blob, 1-part)
}

// bodiesSize is the bytes of data and metadata of the parts' events.
func bodiesSize(parts []appendPart) (events, size int) {
	for _, p := range parts {
		for _, ev := range p.events {
			events++
			size += len(ev.Data) + len(ev.Metadata)
		}
	}
	return events, size
}
