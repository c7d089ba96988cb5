// Package ai talks to any OpenAI-compatible chat-completions endpoint (a
// hosted provider, or Ollama, vLLM, llama.cpp on one's own machine), with a
// timeout, a bound on calls in flight, a per-instance budget of calls per
// hour and retries on 429 (honouring Retry-After) and 5xx; and summarizes
// without any model (Extractive) when none is configured.
package ai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Message is one chat message (role system, user or assistant).
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Config configures a client.
type Config struct {
	BaseURL string // e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1
	APIKey  string // optional; sent as a bearer token, never logged nor in errors
	Model   string
	// Timeout bounds one call (default 30 s); Concurrency the calls in
	// flight (default 4); CallsPerHour each instance's budget (default 60,
	// 0 for none); Retries the retries of a 429 or 5xx (default 2).
	Timeout      time.Duration
	Concurrency  int
	CallsPerHour int
	Retries      int
	// MaxRetryAfter bounds an honoured Retry-After (default 30 s).
	MaxRetryAfter time.Duration
	HTTP          *http.Client
}

// Errors of calls.
var (
	ErrBudget = errors.New("ai: the instance's budget of calls for this hour is spent")
	ErrOff    = errors.New("ai: no model is configured")
)

// APIError is an error answer of the endpoint, in OpenAI's shape.
type APIError struct {
	Status  int
	Message string
	Type    string
	Code    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("ai: HTTP %d: %s (%s)", e.Status, e.Message, e.Type)
}

// Client calls one endpoint.
type Client struct {
	cfg    Config
	slots  chan struct{}
	mu     sync.Mutex
	budget map[string]*window
	now    func() time.Time
}

type window struct {
	start time.Time
	calls int
}

// New returns a client; a Config without BaseURL or Model makes one that
// answers ErrOff.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = 30 * time.Second
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Client{cfg: cfg, slots: make(chan struct{}, cfg.Concurrency), budget: map[string]*window{}, now: time.Now}
}

// Enabled tells whether a model is configured.
func (c *Client) Enabled() bool { return c != nil && c.cfg.BaseURL != "" && c.cfg.Model != "" }

// Model is the configured model's name.
func (c *Client) Model() string { return c.cfg.Model }

// spend takes one call from the instance's budget for this hour.
func (c *Client) spend(instanceID string) bool {
	if c.cfg.CallsPerHour <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	w, ok := c.budget[instanceID]
	if !ok || now.Sub(w.start) >= time.Hour {
		w = &window{start: now}
		c.budget[instanceID] = w
	}
	if w.calls >= c.cfg.CallsPerHour {
		return false
	}
	w.calls++
	return true
}

type completionRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature float64   `json:"temperature"`
}

type completionResponse struct {
	Choices []struct {
		Message Message `json:"message"`
	} `json:"choices"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    any    `json:"code"`
	} `json:"error"`
}

// Complete asks the model for the next assistant message, on an instance's
// budget. It retries a 429 (after Retry-After, bounded) and a 5xx (with
// backoff); other failures return at once.
func (c *Client) Complete(ctx context.Context, instanceID string, msgs []Message) (string, error) {
	return c.CompleteWith(ctx, instanceID, "", msgs)
}

// CompleteWith is Complete with another model than the configured one ("":
// the configured one).
func (c *Client) CompleteWith(ctx context.Context, instanceID, model string, msgs []Message) (string, error) {
	if !c.Enabled() {
		return "", ErrOff
	}
	if !c.spend(instanceID) {
		return "", ErrBudget
	}
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if model == "" {
		model = c.cfg.Model
	}
	body, err := json.Marshal(completionRequest{Model: model, Messages: msgs, Temperature: 0.2})
	if err != nil {
		return "", err
	}
	backoff := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		text, wait, err := c.call(ctx, body)
		if err == nil {
			return text, nil
		}
		if wait < 0 || attempt >= c.cfg.Retries {
			return "", err
		}
		if wait == 0 {
			wait = backoff
			backoff *= 2
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// call makes one request; wait is how long to wait before a retry (0: the
// default backoff), negative when the failure is not worth retrying.
func (c *Client) call(ctx context.Context, body []byte) (string, time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, c.cfg.BaseURL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return "", -1, fmt.Errorf("ai: build the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			return "", 0, fmt.Errorf("ai: no answer within %s", c.cfg.Timeout)
		}
		// The URL holds no secret, but the error text is kept generic anyway.
		return "", 0, errors.New("ai: the endpoint could not be reached")
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", 0, errors.New("ai: the answer could not be read")
	}
	var out completionResponse
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode != http.StatusOK {
		apiErr := &APIError{Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
		if out.Error != nil {
			apiErr.Message, apiErr.Type = out.Error.Message, out.Error.Type
			apiErr.Code = fmt.Sprint(out.Error.Code)
		}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			wait := time.Duration(0)
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				wait = min(time.Duration(s)*time.Second, c.cfg.MaxRetryAfter)
				if wait == 0 {
					wait = 100 * time.Millisecond
				}
			}
			return "", wait, apiErr
		case resp.StatusCode >= 500:
			return "", 0, apiErr
		}
		return "", -1, apiErr
	}
	if len(out.Choices) == 0 {
		return "", -1, errors.New("ai: the answer has no choices")
	}
	return strings.TrimSpace(out.Choices[0].Message.Content), -1, nil
}
