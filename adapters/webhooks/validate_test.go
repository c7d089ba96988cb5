package webhooks_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/socialops/socialops/adapters/webhooks"
)

func TestPrivateAddressesAreRefusedUnlessAllowed(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1/h", "http://localhost:8080/h", "https://10.1.2.3/h", "http://192.168.0.1/",
		"http://[::1]/h", "http://169.254.169.254/latest", "http://0.0.0.0/", "http://100.64.1.1/"} {
		assert.ErrorIs(t, webhooks.ValidateURL(u, false), webhooks.ErrURLNotAllowed, u)
		assert.NoError(t, webhooks.ValidateURL(u, true), u)
	}
	assert.NoError(t, webhooks.ValidateURL("https://crm.example.com/hooks?x=1", false))
	// The dialer refuses what a public name resolves to, too.
	c := webhooks.NewClient(false, 1)
	_, err := c.Post("http://127.0.0.1:9/", "application/json", nil)
	assert.ErrorContains(t, err, "not a public address")
}
