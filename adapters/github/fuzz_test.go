package github

import (
	"testing"

	"github.com/socialops/socialops/adapters/providertext/providertexttest"
)

// FuzzNormalize checks that Normalize never panics and either returns a
// *domain.Error or a well-formed, bounded message. Its seed corpus (every
// testdata payload with its event name, and testdata/fuzz/FuzzNormalize) runs
// in every go test.
func FuzzNormalize(f *testing.F) {
	for _, name := range sampleNames(f) {
		f.Add(eventOf(name), delivery, providertexttest.ReadSample(f, name))
	}
	f.Add("issues", "d", []byte(`{"action":"opened","issue":{"number":1,"title":"\u0000\ud800","updated_at":"0000-01-01T00:00:00+01:00"},"repository":{"full_name":"a/b"}}`))
	f.Add("check_run", "d", []byte(`{"check_run":{"html_url":"https://x/a/b/actions/runs/99999999999999999999"},"repository":{"full_name":"a/b"}}`))
	f.Fuzz(func(t *testing.T, event, deliveryID string, body []byte) {
		msg, err := Normalize(event, deliveryID, body)
		providertexttest.CheckNormalized(t, msg, err, providertexttest.LabelLimits{Max: MaxLabels, MaxRunes: MaxLabelRunes})
	})
}
