package wecom_test

import (
	"testing"

	"github.com/socialops/socialops/adapters/providertext/providertexttest"
	"github.com/socialops/socialops/adapters/wecom"
)

// FuzzNormalize checks that Normalize never panics and either returns a
// *domain.Error or a well-formed, bounded message. Its seed corpus (the
// testdata samples) runs in every go test.
func FuzzNormalize(f *testing.F) {
	for _, name := range providertexttest.Samples(f, "*.xml") {
		f.Add(providertexttest.ReadSample(f, name))
	}
	f.Add([]byte("<xml><ToUserName>\x00</ToUserName></xml>"))
	f.Add([]byte("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>99999999999999</CreateTime><MsgType>event</MsgType><Event>\u2028</Event></xml>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := wecom.Normalize(body)
		providertexttest.CheckNormalized(t, msg, err, providertexttest.LabelLimits{})
	})
}

// FuzzDecrypt checks that no ciphertext panics the decryption.
func FuzzDecrypt(f *testing.F) {
	f.Add(samplePOSTEncrypt)
	f.Add(sampleGETEchostr)
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, enc string) {
		c, err := wecom.NewCrypt(sampleToken, sampleAESKey, sampleCorpID)
		if err != nil {
			t.Fatal(err)
		}
		_, _, _ = c.Decrypt(enc)
	})
}
