package telegram_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/telegram"
	"github.com/socialops/socialops/domain"
)

// Real updates: a member added to a group (new_chat_members), the bot added
// (my_chat_member), someone leaving, and a chat_member update; a plain
// message is no membership change.
func TestNormalizeMembership(t *testing.T) {
	body, err := os.ReadFile("testdata/message_new_chat_members.json")
	require.NoError(t, err)
	ms, err := telegram.NormalizeMembership(body)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.Equal(t, telegram.Membership{EventID: "100000029", ExternalThreadID: "-1001234567890", Joined: true,
		Member: memberOf("987654321", "Alice Smith"), Operator: memberOf("555000111", "Bob"),
		ChatType: "supergroup", ChatName: "Acme Support"}, ms[0])

	body, err = os.ReadFile("testdata/my_chat_member.json")
	require.NoError(t, err)
	ms, err = telegram.NormalizeMembership(body)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.True(t, ms[0].Joined, "left → member")
	assert.Equal(t, "7000000001", ms[0].Member.ExternalID)

	left := `{"update_id":7,"message":{"message_id":9,"date":1,"chat":{"id":-100,"title":"G","type":"group"},
		"from":{"id":1,"first_name":"Admin"},"left_chat_member":{"id":2,"first_name":"Carl"}}}`
	ms, err = telegram.NormalizeMembership([]byte(left))
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.False(t, ms[0].Joined)
	assert.Equal(t, "Carl", ms[0].Member.DisplayName)
	assert.Equal(t, "Admin", ms[0].Operator.DisplayName)

	kicked := `{"update_id":8,"chat_member":{"chat":{"id":-100,"type":"supergroup","title":"G"},"from":{"id":1,"first_name":"Admin"},"date":1,
		"old_chat_member":{"user":{"id":3,"first_name":"Dee"},"status":"member"},
		"new_chat_member":{"user":{"id":3,"first_name":"Dee"},"status":"kicked"}}}`
	ms, err = telegram.NormalizeMembership([]byte(kicked))
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.False(t, ms[0].Joined)

	promoted := `{"update_id":9,"chat_member":{"chat":{"id":-100,"type":"supergroup"},"from":{"id":1},"date":1,
		"old_chat_member":{"user":{"id":3},"status":"member"},"new_chat_member":{"user":{"id":3},"status":"administrator"}}}`
	ms, err = telegram.NormalizeMembership([]byte(promoted))
	require.NoError(t, err)
	assert.Empty(t, ms, "a promotion is no join nor leave")

	body, err = os.ReadFile("testdata/message_text_private.json")
	require.NoError(t, err)
	ms, err = telegram.NormalizeMembership(body)
	require.NoError(t, err)
	assert.Empty(t, ms)
}

func memberOf(id, name string) domain.Sender { return domain.Sender{ExternalID: id, DisplayName: name} }

func FuzzNormalizeMembership(f *testing.F) {
	for _, name := range []string{"testdata/message_new_chat_members.json", "testdata/my_chat_member.json", "testdata/message_text_private.json"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"update_id":1,"message":{"chat":{"id":0},"new_chat_members":[{}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ms, err := telegram.NormalizeMembership(body)
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.ExternalThreadID == "" || m.ExternalThreadID == "0" || m.EventID == "" {
				t.Fatalf("membership without a chat or an id: %+v", m)
			}
		}
	})
}
