// Package metricstest reads metrics in tests: a scrape of a /metrics URL
// parsed from the Prometheus text format, or a registry gathered in process,
// and look-ups of one series by name and labels.
package metricstest

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// Families are metric families by name.
type Families map[string]*dto.MetricFamily

// Scrape GETs url (a /metrics endpoint) and parses the text format.
func Scrape(t testing.TB, url string) Families {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"), resp.Header.Get("Content-Type"))
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(t, err, "parse /metrics:\n%s", body)
	return fams
}

// Gather collects a registry in process.
func Gather(t testing.TB, g prometheus.Gatherer) Families {
	t.Helper()
	list, err := g.Gather()
	require.NoError(t, err)
	out := Families{}
	for _, f := range list {
		out[f.GetName()] = f
	}
	return out
}

// Find returns the series of family name whose labels include every
// name/value pair of labels (given as alternating names and values).
func (f Families) Find(name string, labels ...string) (*dto.Metric, bool) {
	fam, ok := f[name]
	if !ok {
		return nil, false
	}
	for _, m := range fam.GetMetric() {
		if hasLabels(m, labels) {
			return m, true
		}
	}
	return nil, false
}

// Value is a counter's or gauge's value (untyped too); ok is false when no
// series matches.
func (f Families) Value(name string, labels ...string) (float64, bool) {
	m, ok := f.Find(name, labels...)
	if !ok {
		return 0, false
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue(), true
	case m.Gauge != nil:
		return m.GetGauge().GetValue(), true
	case m.Untyped != nil:
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

// HistogramCount is the number of observations of a histogram series.
func (f Families) HistogramCount(name string, labels ...string) (uint64, bool) {
	m, ok := f.Find(name, labels...)
	if !ok || m.Histogram == nil {
		return 0, false
	}
	return m.GetHistogram().GetSampleCount(), true
}

// LabelValues lists the values label takes in family name, sorted.
func (f Families) LabelValues(name, label string) []string {
	var out []string
	for _, m := range f[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out = append(out, l.GetValue())
			}
		}
	}
	sort.Strings(out)
	return out
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
