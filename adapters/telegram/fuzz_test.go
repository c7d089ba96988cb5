package telegram

import (
	"testing"

	"github.com/socialops/socialops/adapters/providertext/providertexttest"
)

// FuzzNormalize checks that Normalize never panics and either returns a
// *domain.Error or a well-formed, bounded message without labels. Its seed
// corpus (the testdata samples and testdata/fuzz/FuzzNormalize) runs in every
// go test.
func FuzzNormalize(f *testing.F) {
	for _, name := range providertexttest.Samples(f, "*.json") {
		f.Add(providertexttest.ReadSample(f, name))
	}
	f.Add([]byte(`{"update_id":1,"message":{"message_id":1,"chat":{"id":1,"title":"\u0000\ud800"},"date":-1,"text":"\u0000"}}`))
	f.Add([]byte(`{"update_id":1,"edited_message":{"message_id":1,"chat":{"id":1},"edit_date":99999999999999,"voice":{"duration":-5}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := Normalize(body)
		providertexttest.CheckNormalized(t, msg, err, providertexttest.LabelLimits{})
	})
}
