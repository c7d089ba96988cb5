package generic

import (
	"testing"

	"github.com/socialops/socialops/adapters/providertext/providertexttest"
)

// FuzzNormalize checks that Normalize never panics and either returns a
// *domain.Error or a well-formed, bounded message. Its seed corpus (the
// testdata samples and testdata/fuzz/FuzzNormalize) runs in every go test.
func FuzzNormalize(f *testing.F) {
	for _, name := range providertexttest.Samples(f, "*.json") {
		f.Add(providertexttest.ReadSample(f, name))
	}
	f.Add([]byte(`{"event_id":"e","thread_id":"t","text":"\u0000","title":"\ud800"}`))
	f.Add([]byte(`{"event_id":"e","thread_id":"t","text":"x","occurred_at":"0000-01-01T00:00:00+01:00"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := Normalize(body)
		providertexttest.CheckNormalized(t, msg, err, providertexttest.LabelLimits{Max: MaxLabels, MaxRunes: MaxLabelRunes})
	})
}
