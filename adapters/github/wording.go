package github

// The words and fields the normalizers share: what an action reads as, whose
// it is, which thread it joins, and the cleaning of labels, ids and times.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/socialops/socialops/adapters/providertext"
)

// common words the actions issues and pull requests share.
func (n normalizer) common(what string) string {
	switch n.action {
	case "labeled":
		if l := n.labelName(); l != "" {
			return fmt.Sprintf("added the label %q to %s", l, what)
		}
	case "unlabeled":
		if l := n.labelName(); l != "" {
			return fmt.Sprintf("removed the label %q from %s", l, what)
		}
	case "assigned":
		if a := n.login(n.p.Assignee); a != "" {
			return "assigned " + what + " to " + a
		}
	case "unassigned":
		if a := n.login(n.p.Assignee); a != "" {
			return "unassigned " + a + " from " + what
		}
	}
	return n.verb() + " " + what
}

// verb is the action as a readable verb: "reopened", "milestoned",
// "review requested" (underscores become spaces), or "updated".
func (n normalizer) verb() string {
	if n.action == "" {
		return "updated"
	}
	return strings.ReplaceAll(n.action, "_", " ")
}

// progress describes a run, job or check: "completed: failure", "in progress".
func (n normalizer) progress(status, conclusion string) string {
	state := providertext.CleanLine(status, 64)
	if state == "" {
		state = n.action
	}
	state = strings.ReplaceAll(orDefault(state, "updated"), "_", " ")
	if c := providertext.CleanLine(conclusion, 64); c != "" {
		return state + ": " + strings.ReplaceAll(c, "_", " ")
	}
	return state
}

func (n normalizer) labelName() string {
	if n.p.Label == nil {
		return ""
	}
	return providertext.CleanLine(n.p.Label.Name, MaxLabelRunes)
}

func (n normalizer) login(a *account) string {
	if a == nil {
		return ""
	}
	if l := providertext.CleanLine(a.Login, maxNameRunes); l != "" {
		return "@" + l
	}
	return ""
}

func (n normalizer) reviewer() string {
	if r := n.login(n.p.RequestedReviewer); r != "" {
		return r
	}
	if t := n.p.RequestedTeam; t != nil {
		if name := providertext.CleanLine(orDefault(t.Name, t.Slug), maxNameRunes); name != "" {
			return "team " + name
		}
	}
	return "a reviewer"
}

func (n normalizer) numbered(number int64) string {
	return n.repo + "#" + strconv.FormatInt(number, 10)
}

func (n normalizer) runThread(runID int64) string {
	return n.repo + "/actions/runs/" + strconv.FormatInt(runID, 10)
}

var runURL = regexp.MustCompile(`^https://[^/?#]+/([^?#]+)/actions/runs/([0-9]{1,19})(?:[/?#]|$)`)

// actionsRunID finds the GitHub Actions run a check run belongs to in its
// html_url or details_url ("https://github.com/<repo>/actions/runs/<id>/job/…");
// only a URL of this repository counts.
func (n normalizer) actionsRunID(urls ...string) int64 {
	for _, u := range urls {
		m := runURL.FindStringSubmatch(u)
		if m == nil || !strings.EqualFold(m[1], n.repo) {
			continue
		}
		if id, err := strconv.ParseInt(m[2], 10, 64); err == nil && id > 0 {
			return id
		}
	}
	return 0
}

// commentText words what the sender did to a comment on where (an issue, a
// pull request, a line of a file), with the comment's body when it has one.
func (n normalizer) commentText(where, body string) string {
	switch n.action {
	case "created":
		return withBody("commented on "+where, body)
	case "edited":
		return withBody("edited a comment on "+where, body)
	case "deleted":
		return "deleted a comment on " + where
	default:
		return n.verb() + " a comment on " + where
	}
}

// withBody appends a written body to a summary, leaving out empty bodies.
func withBody(summary, body string) string {
	if b := providertext.CleanText(body, providertext.MaxTextBytes); b != "" {
		return summary + ": " + b
	}
	return summary
}

func labelNames(labels []label) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range labels {
		name := providertext.CleanLine(l.Name, MaxLabelRunes)
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
		if len(out) == MaxLabels {
			break
		}
	}
	return out
}

func id(n int64) string {
	if n <= 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// firstTime is the first of the RFC 3339 times that parses and can be
// encoded (years 1 to 9999), in UTC; zero when none does.
func firstTime(values ...string) time.Time {
	for _, v := range values {
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			continue
		}
		t = t.UTC()
		if t.Year() >= 1 && t.Year() <= 9999 {
			return t
		}
	}
	return time.Time{}
}
