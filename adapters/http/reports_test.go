package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStatisticsReportAndPush drives seed 002 §4.3 as written: the report
// at GET …/api/v1/statistics/report?type=&start_date=&end_date=&dimensions=agent,category
// (JSON and CSV), the push of the seed's example, which then appears in the
// report, SocialOps' own routes, and bad input that stores nothing.
func TestStatisticsReportAndPush(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read")
	base := "/v1/apps/socialops/support"

	r := h.do("PUT", base+"/reports/settings", []byte(`{"time_zone":"Asia/Shanghai","business_hours":[{"weekday":1,"start":"09:00","end":"18:00"}]}`), jsonHeaders(key))
	require.Equal(t, 200, r.status, string(r.body))
	r = h.get(base+"/reports/settings", key, "X-SocialOps-Position", r.header.Get("X-SocialOps-Position"))
	require.Equal(t, 200, r.status)
	assert.Equal(t, "Asia/Shanghai", data(r)["time_zone"])

	thread, _ := h.openThread("support", key, "evt_report_1")
	h.openThread("support", key, "evt_report_2")
	r = h.do("POST", base+"/threads/"+thread+"/replies", []byte(`{"text":"on it"}`), jsonHeaders(key))
	require.Equal(t, 201, r.status, string(r.body))
	h.settle()

	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	now := time.Now().In(loc)
	from, to := now.AddDate(0, 0, -1).Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)
	seed := base + "/api/v1/statistics/report?start_date=" + from + "&end_date=" + to
	r = h.get(seed+"&type=conversation&dimensions=agent,category", key)
	require.Equal(t, 200, r.status, string(r.body))
	rep := data(r)
	assert.Equal(t, "Asia/Shanghai", rep["time_zone"])
	assert.Equal(t, []any{"agent", "category"}, rep["dimensions"])
	total := rep["total"].(map[string]any)["metrics"].(map[string]any)
	assert.Equal(t, float64(2), total["conversations_created"])
	assert.Equal(t, float64(1), total["first_responses"])
	for _, s := range rep["series"].([]any) {
		row := s.(map[string]any)
		assert.Equal(t, now.Format(time.DateOnly), row["period"], "days are the instance's local days")
		assert.Contains(t, row["dimension"], "agent")
		assert.Contains(t, row["dimension"], "category")
	}
	r = h.get(seed+"&type=message", key)
	require.Equal(t, 200, r.status)
	msgs := data(r)["total"].(map[string]any)["metrics"].(map[string]any)
	assert.Equal(t, float64(2), msgs["messages_in"])
	assert.Equal(t, float64(1), msgs["messages_out"])
	assert.Equal(t, float64(1), msgs["replies"], "the one message of the answered thread waited")
	r = h.get(seed+"&type=agent", key)
	require.Equal(t, 200, r.status)
	assert.Equal(t, []any{"agent"}, data(r)["dimensions"], "an agent report is per agent")

	r = h.get(seed+"&type=message&dimensions=channel", key, "Accept", "text/csv")
	require.Equal(t, 200, r.status)
	assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/csv"))
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	assert.Equal(t, "period,channel,messages_in,messages_out,messages_bot,notes,replies,reply_avg_seconds,reply_business_avg_seconds", lines[0])
	assert.Len(t, lines, 2)
	assert.True(t, strings.HasPrefix(lines[1], now.Format(time.DateOnly)+",generic-webhook,2,1,0,0,1,"), lines[1])

	// The seed's push example, then the report of its day shows it.
	push := `{"type":"conversation","metrics":{"total":100,"success":90,"avg_duration":300},"dimension":{"date":"2023-10-26","agent_id":"xxx"}}`
	r = h.do("POST", base+"/api/v1/statistics/push", []byte(push), jsonHeaders(key))
	require.Equal(t, 200, r.status, string(r.body))
	head := h.head()
	r = h.do("POST", base+"/api/v1/statistics/push", []byte(push), jsonHeaders(key))
	require.Equal(t, 200, r.status)
	assert.Equal(t, head, h.head(), "the same push twice is stored once")
	r = h.do("POST", base+"/api/v1/statistics/push", []byte(`{"type":"conversation","metrics":{"total":120,"avg_duration":200},"dimension":{"date":"2023-10-26","agent_id":"xxx"}}`), jsonHeaders(key))
	require.Equal(t, 200, r.status)
	r = h.get(base+"/api/v1/statistics/report?type=conversation&start_date=2023-10-01&end_date=2023-10-31&dimensions=agent,category", key,
		"X-SocialOps-Position", r.header.Get("X-SocialOps-Position"))
	require.Equal(t, 200, r.status, string(r.body))
	series := data(r)["series"].([]any)
	require.Len(t, series, 1)
	row := series[0].(map[string]any)
	assert.Equal(t, "2023-10-26", row["period"])
	assert.Equal(t, map[string]any{"agent": "xxx", "category": ""}, row["dimension"])
	assert.Equal(t, map[string]any{"total": float64(120), "avg_duration": float64(200)}, row["pushed"], "the last push of a day and dimensions replaces the one before")
	r = h.get(base+"/api/v1/statistics/report?type=message&start_date=2023-10-01&end_date=2023-10-31", key)
	assert.Empty(t, data(r)["series"], "pushes show in reports of their type only")

	// SocialOps' own route answers the same.
	r = h.get(base+"/reports?type=conversation&start_date=2023-10-26&end_date=2023-10-26&dimensions=agent", key)
	require.Equal(t, 200, r.status)
	assert.Equal(t, float64(120), data(r)["total"].(map[string]any)["pushed"].(map[string]any)["total"])

	// Bad input: a precise 4xx, and nothing stored.
	head = h.head()
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", seed[:strings.Index(seed, "?")], "", 400, "invalid_parameter"},
		{"GET", seed + "&type=visits", "", 400, "invalid_parameter"},
		{"GET", seed + "&dimensions=agent,agent", "", 400, "invalid_parameter"},
		{"GET", seed + "&dimensions=team", "", 400, "invalid_parameter"},
		{"GET", seed + "&granularity=minute", "", 400, "invalid_parameter"},
		{"GET", base + "/api/v1/statistics/report?start_date=2025-01-01&end_date=2026-01-02", "", 400, "invalid_parameter"},
		{"GET", base + "/api/v1/statistics/report?start_date=2026-01-01&end_date=2026-03-01&granularity=hour", "", 400, "invalid_parameter"},
		{"POST", base + "/api/v1/statistics/push", `{"type":"visits","metrics":{"a":1},"dimension":{"date":"2023-10-26"}}`, 400, "invalid_field"},
		{"POST", base + "/api/v1/statistics/push", `{"type":"conversation","metrics":{"a":1},"dimension":{}}`, 422, "missing_field"},
		{"POST", base + "/api/v1/statistics/push", `{"type":"conversation","metrics":{"a":1},"dimension":{"date":"26/10/2023"}}`, 400, "invalid_field"},
		{"POST", base + "/api/v1/statistics/push", `{"type":"conversation","metrics":{},"dimension":{"date":"2023-10-26"}}`, 422, "missing_field"},
		{"POST", base + "/api/v1/statistics/push", `{"type":"conversation","metrics":{"Bad Name":1},"dimension":{"date":"2023-10-26"}}`, 400, "invalid_field"},
		{"POST", base + "/api/v1/statistics/push", `{"type":"conversation","metrics":{"a":"1"},"dimension":{"date":"2023-10-26"}}`, 400, "invalid_field"},
		{"POST", base + "/api/v1/statistics/push", `{"type":"conversation","metrics":{"a":1},"dimension":{"date":"2023-10-26"},"extra":1}`, 400, "invalid_field"},
		{"PUT", base + "/reports/settings", `{"time_zone":"Mars/Olympus"}`, 400, "invalid_field"},
		{"PUT", base + "/reports/settings", `{"time_zone":"UTC","business_hours":[{"weekday":7,"start":"09:00","end":"18:00"}]}`, 400, "invalid_field"},
		{"PUT", base + "/reports/settings", `{"time_zone":"UTC","business_hours":[{"weekday":1,"start":"18:00","end":"09:00"}]}`, 400, "invalid_field"},
		{"PUT", base + "/reports/settings", `{"business_hours":[]}`, 422, "missing_field"},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		r := h.do(c.method, c.path, body, jsonHeaders(key))
		assert.Equal(t, c.status, r.status, "%s %s %s: %s", c.method, c.path, c.body, r.body)
		assert.Equal(t, c.code, r.errorCode(), "%s %s %s", c.method, c.path, c.body)
	}
	assert.Equal(t, head, h.head(), "nothing was stored")
	readOnly := h.key("alice", "socialops:read")
	r = h.do("POST", base+"/api/v1/statistics/push", []byte(push), jsonHeaders(readOnly))
	assert.Equal(t, 403, r.status)
}
