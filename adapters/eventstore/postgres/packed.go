package postgres

// packedBodies carries the data and metadata of a batch's events to
// Postgres as one bytea parameter, with the 1-based offset and length of
// each event's data and of its metadata in it (issue 21). Passed as two
// bytea[] parameters, pgx encoded them element by element into a buffer that
// starts small, grows by doubling and is dropped after each query: about
// seven bytes allocated per byte of event, a third of what a webhook
// allocated. One parameter is copied once, and event_store_append_packed
// (migrations/00042) slices each body out of it as it inserts the event's
// row.
type packedBodies struct {
	blob             []byte
	dataOff, dataLen []int32 // event i's data
	metaOff, metaLen []int32 // event i's metadata
}

func packBodies(n, size int) *packedBodies {
	return &packedBodies{
		blob:    make([]byte, 0, size),
		dataOff: make([]int32, 0, n), dataLen: make([]int32, 0, n),
		metaOff: make([]int32, 0, n), metaLen: make([]int32, 0, n),
	}
}

// add appends one event's data and metadata.
func (p *packedBodies) add(data, meta []byte) {
	p.dataOff, p.dataLen = append(p.dataOff, int32(len(p.blob)+1)), append(p.dataLen, int32(len(data)))
	p.blob = append(p.blob, data...)
	p.metaOff, p.metaLen = append(p.metaOff, int32(len(p.blob)+1)), append(p.metaLen, int32(len(meta)))
	p.blob = append(p.blob, meta...)
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
