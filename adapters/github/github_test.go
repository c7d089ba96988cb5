package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/providertext"
	"github.com/socialops/socialops/adapters/providertext/providertexttest"
	"github.com/socialops/socialops/domain"
)

const delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"

// sampleNames are the testdata payloads, as sorted paths relative to testdata.
func sampleNames(t testing.TB) []string {
	t.Helper()
	return providertexttest.Samples(t, "*.json", "handwritten/*.json")
}

// eventOf is the event name of a testdata payload: its file name up to the
// first dot, as GitHub sends it in X-GitHub-Event.
func eventOf(path string) string {
	base := filepath.Base(path)
	return base[:strings.IndexByte(base, '.')]
}

func normalizeFile(t testing.TB, path string) domain.InboundMessage {
	t.Helper()
	msg, err := Normalize(eventOf(path), delivery, providertexttest.ReadSample(t, path))
	require.NoError(t, err)
	return msg
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

var (
	codertocat = domain.Sender{ExternalID: "Codertocat", DisplayName: "Codertocat"}
	octocat    = domain.Sender{ExternalID: "octocat", DisplayName: "octocat"}
)

func TestNormalizeFixtures(t *testing.T) {
	const (
		issueSubject = "Spelling error in the README file"
		prSubject    = "Update the README with new information."
	)
	tests := []struct {
		file      string
		thread    string
		messageID string
		subject   string
		text      string
		labels    []string
		sender    domain.Sender
		occurred  time.Time
	}{
		{"issues.opened.payload.json", "Codertocat/Hello-World#1", "", issueSubject,
			"opened issue #1: It looks like you accidently spelled 'commit' with two 't's.",
			[]string{"bug"}, codertocat, ts("2019-05-15T15:20:18Z")},
		{"issues.opened.with-empty-body.payload.json", "Codertocat/Hello-World#1", "", issueSubject,
			"opened issue #1", []string{"bug"}, codertocat, ts("2019-05-15T15:20:18Z")},
		{"issues.labeled.payload.json", "Codertocat/Hello-World#1", "", issueSubject,
			`added the label "bug" to issue #1`, []string{"bug"}, codertocat, ts("2019-05-15T15:20:18Z")},
		{"issues.reopened.payload.json", "Codertocat/Hello-World#1", "", issueSubject,
			"reopened issue #1", []string{"bug"}, codertocat, ts("2021-10-11T16:40:56Z")},
		{"issue_comment.created.payload.json", "Codertocat/Hello-World#1", "492700400", issueSubject,
			"commented on issue #1: You are totally right! I'll get this fixed right away.",
			[]string{"bug"}, codertocat, ts("2019-05-15T15:20:21Z")},
		{"handwritten/issue_comment.created.on-pull-request.json", "Codertocat/Hello-World#2", "492700500", prSubject,
			"commented on pull request #2: Could you also update the CONTRIBUTING file?",
			[]string{"bug"}, octocat, ts("2019-05-15T15:22:00Z")},
		{"pull_request.opened.payload.json", "Codertocat/Hello-World#2", "", prSubject,
			"opened pull request #2 to merge changes into master: This is a pretty simple change that we need to pull into master.",
			[]string{"bug"}, codertocat, ts("2019-05-15T15:20:33Z")},
		{"pull_request.opened.with-null-body.json", "Codertocat/Hello-World#2", "", prSubject,
			"opened pull request #2 to merge changes into master", []string{"bug"}, codertocat, ts("2019-05-15T15:20:33Z")},
		{"pull_request.closed.payload.json", "Codertocat/Hello-World#2", "", prSubject,
			"closed pull request #2 without merging", []string{"bug"}, codertocat, ts("2019-05-15T15:21:18Z")},
		{"handwritten/pull_request_review.submitted.approved.json", "Codertocat/Hello-World#2", "237895671", prSubject,
			"approved pull request #2: Looks good to me, thanks!", []string{"bug"}, octocat, ts("2019-05-15T15:20:38Z")},
		{"handwritten/pull_request_review.submitted.with-null-body.json", "Codertocat/Hello-World#2", "237895672", prSubject,
			"reviewed pull request #2", []string{"bug"}, codertocat, ts("2019-05-15T15:20:39Z")},
		{"handwritten/pull_request_review_comment.created.json", "Codertocat/Hello-World#2", "284312630", prSubject,
			"commented on README.md line 1 in pull request #2: Maybe you should use more emoji on this line.",
			[]string{"bug"}, octocat, ts("2019-05-15T15:20:38Z")},
		{"workflow_run.completed.payload.json", "octo-org/octo-repo/actions/runs/289782451", "", "test #163 on master",
			"workflow run completed: success — ci(action): update actions/setup-node digest to 8c91899",
			nil, codertocat, ts("2020-10-05T16:33:49Z")},
		{"workflow_job.completed.failure.with-organization.payload.json", "Codertocat/Hello-World/actions/runs/2202229078", "289782451", "CodeQL on main",
			"job linters completed: failure (failed step: Run yarn run format-check)",
			nil, codertocat, ts("2021-08-05T10:38:16Z")},
		{"handwritten/workflow_job.in_progress.same-run.json", "octo-org/octo-repo/actions/runs/289782451", "1204938473", "test on master",
			"job test (18.x) in progress", nil, codertocat, ts("2020-10-05T16:33:52Z")},
		{"handwritten/check_run.completed.actions.json", "octo-org/octo-repo/actions/runs/289782451", "1204938473", "test (18.x) on master",
			"check run test (18.x) completed: failure — Process completed with exit code 1.", nil, codertocat, ts("2020-10-05T16:35:10Z")},
		{"handwritten/check_run.completed.third-party.json", "Codertocat/Hello-World/check-suites/118578147", "128620228", "Octocoders-linter on changes",
			"check run Octocoders-linter completed: success", nil, codertocat, ts("2019-05-15T15:21:12Z")},
	}
	covered := map[string]bool{"ping.payload.json": true} // ping: TestIgnoredEvents
	for _, tt := range tests {
		covered[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			msg := normalizeFile(t, tt.file)
			assert.Equal(t, domain.InboundMessage{
				Provider:          domain.ProviderGitHub,
				ProviderEventID:   delivery,
				ExternalThreadID:  tt.thread,
				ExternalMessageID: tt.messageID,
				Subject:           tt.subject,
				MessageType:       domain.MessageEvent,
				Text:              tt.text,
				Sender:            tt.sender,
				Labels:            tt.labels,
				OccurredAt:        tt.occurred,
			}, msg)
		})
	}
	var missing []string
	for _, name := range sampleNames(t) {
		if !covered[name] {
			missing = append(missing, name)
		}
	}
	assert.Empty(t, missing, "every testdata payload has an expectation")
}

func TestThreadGrouping(t *testing.T) {
	groups := [][]string{
		{ // an issue and its comments
			"issues.opened.payload.json",
			"issues.opened.with-empty-body.payload.json",
			"issues.labeled.payload.json",
			"issues.reopened.payload.json",
			"issue_comment.created.payload.json",
		},
		{ // a pull request, its conversation comment, reviews and review comments
			"pull_request.opened.payload.json",
			"pull_request.closed.payload.json",
			"handwritten/issue_comment.created.on-pull-request.json",
			"handwritten/pull_request_review.submitted.approved.json",
			"handwritten/pull_request_review_comment.created.json",
		},
		{ // a workflow run, one of its jobs and that job's check run
			"workflow_run.completed.payload.json",
			"handwritten/workflow_job.in_progress.same-run.json",
			"handwritten/check_run.completed.actions.json",
		},
	}
	var threads []string
	for _, group := range groups {
		first := normalizeFile(t, group[0]).ExternalThreadID
		for _, f := range group[1:] {
			assert.Equal(t, first, normalizeFile(t, f).ExternalThreadID, f)
		}
		threads = append(threads, first)
	}
	assert.Len(t, threads, 3)
	assert.NotEqual(t, threads[0], threads[1], "issue #1 and pull request #2 are different threads")
}

func TestIgnoredEvents(t *testing.T) {
	tests := []struct {
		event string
		body  []byte
	}{
		{"ping", providertexttest.ReadSample(t, "ping.payload.json")},
		{"push", []byte(`{"ref":"refs/heads/main"}`)},
		{"star", []byte(`not even JSON`)},
		{"check_suite", providertexttest.ReadSample(t, "handwritten/check_run.completed.third-party.json")},
		{"Issues", providertexttest.ReadSample(t, "issues.opened.payload.json")}, // event names are case-sensitive
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			_, err := Normalize(tt.event, delivery, tt.body)
			providertexttest.RequireCodedError(t, err, domain.ErrEventIgnored, "")
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	issue := providertexttest.ReadSample(t, "issues.opened.payload.json")
	tests := []struct {
		name     string
		event    string
		delivery string
		body     []byte
		base     *domain.Error
		field    string
	}{
		{"no delivery id", "issues", "", issue, domain.ErrMissingField, "X-GitHub-Delivery"},
		{"blank delivery id", "issues", "  ", issue, domain.ErrMissingField, "X-GitHub-Delivery"},
		{"no event", "", delivery, issue, domain.ErrMissingField, "X-GitHub-Event"},
		{"no event, no delivery", "", "", issue, domain.ErrMissingField, "X-GitHub-Event"},
		{"ping without delivery id", "ping", "", providertexttest.ReadSample(t, "ping.payload.json"), domain.ErrMissingField, "X-GitHub-Delivery"},
		{"delivery id with a newline", "issues", "a\nb", issue, domain.ErrInvalidField, "X-GitHub-Delivery"},
		{"empty body", "issues", delivery, nil, domain.ErrInvalidPayload, "body"},
		{"not JSON", "issues", delivery, []byte("payload=%7B%7D"), domain.ErrInvalidPayload, "body"},
		{"truncated", "issues", delivery, issue[:len(issue)/2], domain.ErrInvalidPayload, "body"},
		{"array", "issues", delivery, []byte(`[]`), domain.ErrInvalidPayload, "body"},
		{"no repository", "issues", delivery, []byte(`{"action":"opened","issue":{"number":1,"title":"t"}}`), domain.ErrMissingField, "repository.full_name"},
		{"blank repository name", "issues", delivery, []byte(`{"action":"opened","issue":{"number":1},"repository":{"full_name":" "}}`), domain.ErrMissingField, "repository.full_name"},
		{"no issue", "issues", delivery, []byte(`{"action":"opened","repository":{"full_name":"a/b"}}`), domain.ErrMissingField, "issue"},
		{"issue without number", "issues", delivery, []byte(`{"action":"opened","issue":{"title":"t"},"repository":{"full_name":"a/b"}}`), domain.ErrMissingField, "issue.number"},
		{"issue number as a string", "issues", delivery, []byte(`{"action":"opened","issue":{"number":"1"},"repository":{"full_name":"a/b"}}`), domain.ErrInvalidField, "issue.number"},
		{"labels as a string", "issues", delivery, []byte(`{"action":"opened","issue":{"number":1,"labels":"bug"},"repository":{"full_name":"a/b"}}`), domain.ErrInvalidField, "issue.labels"},
		{"comment without comment", "issue_comment", delivery, []byte(`{"action":"created","issue":{"number":1},"repository":{"full_name":"a/b"}}`), domain.ErrMissingField, "comment"},
		{"review without review", "pull_request_review", delivery, []byte(`{"action":"submitted","pull_request":{"number":2},"repository":{"full_name":"a/b"}}`), domain.ErrMissingField, "review"},
		{"pull request without number", "pull_request", delivery, []byte(`{"action":"opened","pull_request":{"title":"t"},"repository":{"full_name":"a/b"}}`), domain.ErrMissingField, "pull_request.number"},
		{"run without id", "workflow_run", delivery, []byte(`{"action":"completed","workflow_run":{"name":"ci"},"repository":{"full_name":"a/b"}}`), domain.ErrMissingField, "workflow_run.id"},
		{"job without run", "workflow_job", delivery, []byte(`{"action":"queued","workflow_job":{"id":5},"repository":{"full_name":"a/b"}}`), domain.ErrMissingField, "workflow_job.run_id"},
		{"check run without run or suite", "check_run", delivery, []byte(`{"action":"created","check_run":{"id":5,"details_url":"https://example.com"},"repository":{"full_name":"a/b"}}`), domain.ErrMissingField, "check_run.check_suite.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize(tt.event, tt.delivery, tt.body)
			providertexttest.RequireCodedError(t, err, tt.base, tt.field)
		})
	}
}

func TestActions(t *testing.T) {
	const repo = `"repository":{"full_name":"acme/api"},"sender":{"login":"dev"}`
	tests := []struct {
		name, event, body, text string
	}{
		{"issue closed as not planned", "issues", `{"action":"closed","issue":{"number":3,"title":"t","state_reason":"not_planned"},` + repo + `}`, "closed issue #3 as not planned"},
		{"issue closed as completed", "issues", `{"action":"closed","issue":{"number":3,"title":"t","state_reason":"completed"},` + repo + `}`, "closed issue #3 as completed"},
		{"issue assigned", "issues", `{"action":"assigned","issue":{"number":3},"assignee":{"login":"ops"},` + repo + `}`, "assigned issue #3 to @ops"},
		{"issue unlabeled", "issues", `{"action":"unlabeled","issue":{"number":3},"label":{"name":"wontfix"},` + repo + `}`, `removed the label "wontfix" from issue #3`},
		{"issue with an unknown action", "issues", `{"action":"some_new_action","issue":{"number":3},` + repo + `}`, "some new action issue #3"},
		{"issue without an action", "issues", `{"issue":{"number":3},` + repo + `}`, "updated issue #3"},
		{"issue comment deleted", "issue_comment", `{"action":"deleted","issue":{"number":3},"comment":{"id":9,"body":"gone"},` + repo + `}`, "deleted a comment on issue #3"},
		{"issue comment edited", "issue_comment", `{"action":"edited","issue":{"number":3},"comment":{"id":9,"body":"fixed typo"},` + repo + `}`, "edited a comment on issue #3: fixed typo"},
		{"pull request merged", "pull_request", `{"action":"closed","number":4,"pull_request":{"number":4,"merged":true},` + repo + `}`, "merged pull request #4"},
		{"pull request synchronized", "pull_request", `{"action":"synchronize","number":4,"pull_request":{"number":4},` + repo + `}`, "pushed new commits to pull request #4"},
		{"pull request review requested from a team", "pull_request", `{"action":"review_requested","number":4,"pull_request":{"number":4},"requested_team":{"name":"backend"},` + repo + `}`, "requested a review from team backend on pull request #4"},
		{"pull request review requested from a user", "pull_request", `{"action":"review_requested","number":4,"pull_request":{"number":4},"requested_reviewer":{"login":"lead"},` + repo + `}`, "requested a review from @lead on pull request #4"},
		{"pull request ready", "pull_request", `{"action":"ready_for_review","pull_request":{"number":4},` + repo + `}`, "marked pull request #4 as ready for review"},
		{"pull request number only at top level", "pull_request", `{"action":"reopened","number":4,"pull_request":{},` + repo + `}`, "reopened pull request #4"},
		{"changes requested", "pull_request_review", `{"action":"submitted","pull_request":{"number":4},"review":{"id":1,"state":"CHANGES_REQUESTED","body":"Please add tests."},` + repo + `}`, "requested changes on pull request #4: Please add tests."},
		{"review dismissed", "pull_request_review", `{"action":"dismissed","pull_request":{"number":4},"review":{"id":1,"state":"dismissed"},` + repo + `}`, "dismissed a review on pull request #4"},
		{"review comment without path", "pull_request_review_comment", `{"action":"created","pull_request":{"number":4},"comment":{"id":1,"body":"nit"},` + repo + `}`, "commented on pull request #4: nit"},
		{"workflow run requested", "workflow_run", `{"action":"requested","workflow_run":{"id":10,"name":"CI","run_number":7,"head_branch":"main","status":"queued","conclusion":null},` + repo + `}`, "workflow run queued"},
		{"workflow run re-run failed", "workflow_run", `{"action":"completed","workflow_run":{"id":10,"name":"CI","status":"completed","conclusion":"failure","run_attempt":2},` + repo + `}`, "workflow run completed: failure (attempt 2)"},
		{"job queued", "workflow_job", `{"action":"queued","workflow_job":{"id":11,"run_id":10,"name":"build","status":"queued"},` + repo + `}`, "job build queued"},
		{"check run re-requested", "check_run", `{"action":"rerequested","check_run":{"id":12,"name":"lint","check_suite":{"id":13}},` + repo + `}`, "re-requested check run lint"},
		{"check run timed out", "check_run", `{"action":"completed","check_run":{"id":12,"name":"lint","status":"completed","conclusion":"timed_out","check_suite":{"id":13}},` + repo + `}`, "check run lint completed: timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := Normalize(tt.event, delivery, []byte(tt.body))
			require.NoError(t, err)
			assert.Equal(t, tt.text, msg.Text)
			assert.Equal(t, domain.Sender{ExternalID: "dev", DisplayName: "dev"}, msg.Sender)
		})
	}
}

func TestThreadsAndSubjects(t *testing.T) {
	const repo = `"repository":{"full_name":"acme/api"}`
	tests := []struct {
		name, event, body, thread, subject string
	}{
		{"workflow run falls back to the workflow's name", "workflow_run", `{"action":"completed","workflow_run":{"id":10,"name":"","run_number":7,"head_branch":"main"},"workflow":{"name":"Deploy"},` + repo + `}`, "acme/api/actions/runs/10", "Deploy #7 on main"},
		{"workflow run without names", "workflow_run", `{"action":"completed","workflow_run":{"id":10},` + repo + `}`, "acme/api/actions/runs/10", "Workflow"},
		{"check run whose URL is another repository's run", "check_run", `{"action":"completed","check_run":{"id":1,"name":"x","html_url":"https://github.com/evil/repo/actions/runs/99/job/1","check_suite":{"id":13}},` + repo + `}`, "acme/api/check-suites/13", "x"},
		{"check run on GitHub Enterprise Server", "check_run", `{"action":"completed","check_run":{"id":1,"name":"x","details_url":"https://ghe.example.com/acme/api/actions/runs/99/job/1"},` + repo + `}`, "acme/api/actions/runs/99", "x"},
		{"issue without title", "issues", `{"action":"opened","issue":{"number":8,"title":null,"body":null},` + repo + `}`, "acme/api#8", "Issue #8"},
		{"comment on an untitled pull request", "issue_comment", `{"action":"created","issue":{"number":9,"pull_request":{"url":"u"}},"comment":{"id":1,"body":""},` + repo + `}`, "acme/api#9", "Pull request #9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := Normalize(tt.event, delivery, []byte(tt.body))
			require.NoError(t, err)
			assert.Equal(t, tt.thread, msg.ExternalThreadID)
			assert.Equal(t, tt.subject, msg.Subject)
		})
	}
}

func TestBoundsAndOddStrings(t *testing.T) {
	t.Run("huge body and title are cut", func(t *testing.T) {
		body := fmt.Sprintf(`{"action":"opened","issue":{"number":1,"title":%q,"body":%q},"repository":{"full_name":"a/b"}}`,
			strings.Repeat("长", 1000), strings.Repeat("🙂", providertext.MaxTextBytes))
		msg, err := Normalize("issues", delivery, []byte(body))
		require.NoError(t, err)
		assert.Equal(t, providertext.MaxSubjectRunes, utf8.RuneCountInString(msg.Subject))
		assert.LessOrEqual(t, len(msg.Text), providertext.MaxTextBytes)
		assert.True(t, utf8.ValidString(msg.Text))
		assert.True(t, strings.HasPrefix(msg.Text, "opened issue #1: 🙂"))
	})
	t.Run("labels are trimmed, de-duplicated and bounded", func(t *testing.T) {
		var labels []string
		for i := range 30 {
			labels = append(labels, fmt.Sprintf(`{"name":" l%d "}`, i%25))
		}
		labels = append([]string{`{"name":""}`, `{"name":null}`, `{"name":"` + strings.Repeat("x", 100) + `"}`}, labels...)
		body := `{"action":"opened","issue":{"number":1,"labels":[` + strings.Join(labels, ",") + `]},"repository":{"full_name":"a/b"}}`
		msg, err := Normalize("issues", delivery, []byte(body))
		require.NoError(t, err)
		assert.Len(t, msg.Labels, MaxLabels)
		assert.Equal(t, MaxLabelRunes, utf8.RuneCountInString(msg.Labels[0]))
		assert.Equal(t, "l0", msg.Labels[1])
	})
	t.Run("NUL and CR in a comment", func(t *testing.T) {
		body := `{"action":"created","issue":{"number":1,"title":"a\u0000b"},"comment":{"id":1,"body":"x\u0000y\r\nz"},"repository":{"full_name":"a/b"},"sender":{"login":"\u0000"}}`
		msg, err := Normalize("issue_comment", delivery, []byte(body))
		require.NoError(t, err)
		assert.Equal(t, "a b", msg.Subject)
		assert.Equal(t, "commented on issue #1: xy\nz", msg.Text)
		assert.Equal(t, domain.Sender{}, msg.Sender)
	})
	t.Run("unparseable and far-future times are dropped", func(t *testing.T) {
		body := `{"action":"opened","issue":{"number":1,"updated_at":"yesterday","created_at":"9999-12-31T23:59:59-05:00"},"repository":{"full_name":"a/b"}}`
		msg, err := Normalize("issues", delivery, []byte(body))
		require.NoError(t, err)
		assert.True(t, msg.OccurredAt.IsZero())
	})
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestVerifySignature(t *testing.T) {
	const secret = "It's a Secret to Everybody"
	body := []byte("Hello, World!")
	// The example from GitHub's "Validating webhook deliveries" documentation.
	const documented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	require.Equal(t, documented, sign(secret, body))

	fixture := providertexttest.ReadSample(t, "issues.opened.payload.json")
	tests := []struct {
		name   string
		secret string
		body   []byte
		header string
		want   bool
	}{
		{"documented example", secret, body, documented, true},
		{"a fixture", "s3cret", fixture, sign("s3cret", fixture), true},
		{"upper-case hex", secret, body, "sha256=" + strings.ToUpper(documented[7:]), true},
		{"wrong secret", "other", body, documented, false},
		{"tampered body", secret, []byte("Hello, World?"), documented, false},
		{"missing header", secret, body, "", false},
		{"only the prefix", secret, body, "sha256=", false},
		{"no prefix", secret, body, documented[7:], false},
		{"SHA-1 header format", secret, body, "sha1=" + documented[7:47], false},
		{"not hex", secret, body, "sha256=" + strings.Repeat("zz", 32), false},
		{"truncated", secret, body, documented[:40], false},
		{"no secret configured", "", body, sign("", body), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, VerifySignature(tt.secret, tt.body, tt.header))
		})
	}
}
