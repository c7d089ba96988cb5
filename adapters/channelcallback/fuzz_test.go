package channelcallback_test

import (
	"testing"

	"github.com/socialops/socialops/adapters/channelcallback"
	"github.com/socialops/socialops/adapters/providertext/providertexttest"
)

// FuzzNormalize checks that Normalize never panics and either returns a
// *domain.Error or a well-formed, bounded message. Its seed corpus (the
// testdata samples) runs in every go test.
func FuzzNormalize(f *testing.F) {
	for _, name := range providertexttest.Samples(f, "*.json") {
		f.Add(providertexttest.ReadSample(f, name))
	}
	f.Add([]byte(`{"msgId":"\u0000","customerId":"\ud800","content":" "}`))
	f.Add([]byte(`{"msgId":"1","customerId":"c","content":"x","createdAt":"0000-01-01T00:00:00Z","attachments":[{"url":" "}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := channelcallback.Normalize("wechat", body)
		providertexttest.CheckNormalized(t, msg, err, providertexttest.LabelLimits{})
	})
}
