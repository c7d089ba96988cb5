package main

import (
	"strings"
	"time"

	"github.com/socialops/socialops/adapters/ai"
	"github.com/socialops/socialops/adapters/assistant"
	"github.com/socialops/socialops/domain"
)

// AIConfig is the model the assistant follower uses (issue 19); without a
// base URL and a model, summaries are extractive and no call leaves.
type AIConfig struct {
	BaseURL      string        // SOCIALOPS_AI_BASE_URL, e.g. http://127.0.0.1:11434/v1
	APIKey       string        // SOCIALOPS_AI_API_KEY (optional; never logged)
	Model        string        // SOCIALOPS_AI_MODEL
	Timeout      time.Duration // SOCIALOPS_AI_TIMEOUT (30 s)
	CallsPerHour int64         // SOCIALOPS_AI_CALLS_PER_HOUR (60 per instance; 0: no budget)
	SummaryEvery int64         // SOCIALOPS_AI_SUMMARY_EVERY (5 messages)
	SummaryNotes bool          // SOCIALOPS_AI_SUMMARY_NOTES (internal notes sent too)
}

func aiVars(getenv func(string) string, cfg *Config) error {
	c := &cfg.AI
	c.BaseURL = strings.TrimSpace(getenv("SOCIALOPS_AI_BASE_URL"))
	c.APIKey = strings.TrimSpace(getenv("SOCIALOPS_AI_API_KEY"))
	c.Model = strings.TrimSpace(getenv("SOCIALOPS_AI_MODEL"))
	if (c.BaseURL == "") != (c.Model == "") {
		return &ConfigError{"SOCIALOPS_AI_MODEL", "set SOCIALOPS_AI_BASE_URL and SOCIALOPS_AI_MODEL together (or neither: extractive summaries)"}
	}
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		return &ConfigError{"SOCIALOPS_AI_BASE_URL", "an http or https URL, e.g. https://api.openai.com/v1"}
	}
	var err error
	if c.Timeout, err = durationVar(getenv, "SOCIALOPS_AI_TIMEOUT", 30*time.Second); err != nil {
		return err
	}
	if c.CallsPerHour, err = intVar(getenv, "SOCIALOPS_AI_CALLS_PER_HOUR", 60, 0, 1_000_000); err != nil {
		return err
	}
	if c.SummaryEvery, err = intVar(getenv, "SOCIALOPS_AI_SUMMARY_EVERY", 5, 1, 10_000); err != nil {
		return err
	}
	c.SummaryNotes = getenv("SOCIALOPS_AI_SUMMARY_NOTES") == "1" || getenv("SOCIALOPS_AI_SUMMARY_NOTES") == "true"
	return nil
}

func newAssistant(a *app, cfg Config, registry *domain.Registry) *assistant.Follower {
	model := ai.New(ai.Config{BaseURL: cfg.AI.BaseURL, APIKey: cfg.AI.APIKey, Model: cfg.AI.Model, Timeout: cfg.AI.Timeout,
		CallsPerHour: int(cfg.AI.CallsPerHour)})
	return assistant.New(a.pool, a.store, registry, a.commands, model, assistant.Options{Every: int(cfg.AI.SummaryEvery),
		IncludeNotes: cfg.AI.SummaryNotes})
}
