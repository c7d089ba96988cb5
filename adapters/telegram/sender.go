package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/socialops/socialops/domain"
)

// DefaultAPIURL is the public Bot API.
const DefaultAPIURL = "https://api.telegram.org"

// Sender calls the Bot API's sendMessage. The bot token is part of the URL,
// so it never appears in returned errors or logs: errors name the method only.
type Sender struct {
	BaseURL string
	Client  *http.Client
}

// NewSender returns a sender for a Bot API base URL (DefaultAPIURL when empty).
func NewSender(baseURL string, timeout time.Duration) *Sender {
	if baseURL == "" {
		baseURL = DefaultAPIURL
	}
	return &Sender{BaseURL: strings.TrimRight(baseURL, "/"), Client: &http.Client{Timeout: timeout}}
}

type sendMessageRequest struct {
	ChatID    string `json:"chat_id"`
	Text      string `json:"text"`
	ParseMode string `json:"parse_mode,omitempty"`
}

type apiResponse struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Result      struct {
		MessageID int64 `json:"message_id"`
	} `json:"result"`
	Parameters struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// SendMessage posts text to a chat and returns Telegram's message_id. Failures
// are *domain.SendError: 429 (with retry_after), 5xx, timeouts and connection
// errors are retryable; other answers (400 chat not found, 403 bot blocked…) are not.
func (s *Sender) SendMessage(ctx context.Context, token, chatID, text, parseMode string) (string, error) {
	body, err := json.Marshal(sendMessageRequest{ChatID: chatID, Text: text, ParseMode: parseMode})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.BaseURL+"/bot"+token+"/sendMessage", bytes.NewReader(body))
	if err != nil {
		return "", &domain.SendError{Code: "telegram_request", Message: "could not build the sendMessage request"}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(req)
	if err != nil {
		return "", transportError(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", transportError(err)
	}
	var ans apiResponse
	if err := json.Unmarshal(raw, &ans); err != nil {
		return "", &domain.SendError{Code: "telegram_" + strconv.Itoa(resp.StatusCode),
			Message:   fmt.Sprintf("sendMessage answered HTTP %d with a body that is not Bot API JSON", resp.StatusCode),
			Retryable: resp.StatusCode >= 500}
	}
	if ans.OK && resp.StatusCode == http.StatusOK {
		return strconv.FormatInt(ans.Result.MessageID, 10), nil
	}
	code := ans.ErrorCode
	if code == 0 {
		code = resp.StatusCode
	}
	se := &domain.SendError{Code: "telegram_" + strconv.Itoa(code), Message: ans.Description}
	switch {
	case code == http.StatusTooManyRequests:
		se.Retryable = true
		se.RetryAfter = time.Duration(ans.Parameters.RetryAfter) * time.Second
	case code >= 500:
		se.Retryable = true
	}
	return "", se
}

// transportError turns a client error into a retryable SendError without the URL (which holds the token).
func transportError(err error) error {
	var netErr net.Error
	code, msg := "telegram_unreachable", "the Bot API could not be reached"
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		code, msg = "timeout", "the Bot API did not answer in time"
	}
	return &domain.SendError{Code: code, Message: msg, Retryable: true}
}
