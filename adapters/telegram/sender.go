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
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
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
	ChatID              string           `json:"chat_id"`
	Text                string           `json:"text"`
	ParseMode           string           `json:"parse_mode,omitempty"`
	DisableNotification bool             `json:"disable_notification,omitempty"`
	ReplyParameters     *replyParameters `json:"reply_parameters,omitempty"`
}

// replyParameters makes a message an answer to another; the message is sent
// even when the other one is gone.
type replyParameters struct {
	MessageID                int64 `json:"message_id"`
	AllowSendingWithoutReply bool  `json:"allow_sending_without_reply"`
}

// SendOptions are sendMessage's options beyond the text.
type SendOptions struct {
	Silent    bool   // disable_notification
	ReplyToID string // the Telegram message_id this one answers ("" for none)
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

// SendMessage posts text to a chat and returns Telegram's message_id.
// Failures are *domain.SendError, classified by what is known about the
// message afterwards:
//
//   - the request provably never left (DNS, dial, TLS handshake: no
//     connection was obtained) — retryable;
//   - the Bot API answered with its own JSON error — 429 (with retry_after)
//     and 5xx retryable, others (400 chat not found, 403 bot blocked…) not;
//   - anything else once the request may have reached Telegram (a timeout or
//     a dropped connection while waiting for the answer, a body that cannot
//     be read, a 2xx or 5xx answer that is not Bot API JSON) — Unknown:
//     Telegram may have posted the message, and sendMessage has no
//     idempotency key, so it must not be sent again.
func (s *Sender) SendMessage(ctx context.Context, token, chatID, text, parseMode string) (string, error) {
	return s.SendMessageWith(ctx, token, chatID, text, parseMode, SendOptions{})
}

// SendMessageWith is SendMessage with options (a silent message, an answer
// to another message); failures are classified as SendMessage's.
func (s *Sender) SendMessageWith(ctx context.Context, token, chatID, text, parseMode string, opts SendOptions) (string, error) {
	payload := sendMessageRequest{ChatID: chatID, Text: text, ParseMode: parseMode, DisableNotification: opts.Silent}
	if id, err := strconv.ParseInt(opts.ReplyToID, 10, 64); err == nil && id > 0 {
		payload.ReplyParameters = &replyParameters{MessageID: id, AllowSendingWithoutReply: true}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return "", &domain.SendError{Code: "telegram_request", Message: "could not encode the sendMessage request"}
	}
	// A connection obtained means the request may be written from then on.
	var connected atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, s.BaseURL+"/bot"+token+"/sendMessage", bytes.NewReader(body))
	if err != nil {
		return "", &domain.SendError{Code: "telegram_request", Message: "could not build the sendMessage request"}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(req)
	if err != nil {
		if !connected.Load() {
			return "", notSentError(err)
		}
		return "", unknownError(err, "waiting for the sendMessage answer")
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", unknownError(err, fmt.Sprintf("reading the HTTP %d answer of sendMessage", resp.StatusCode))
	}
	var ans apiResponse
	if err := json.Unmarshal(raw, &ans); err != nil || (!ans.OK && ans.ErrorCode == 0) {
		se := &domain.SendError{Code: "telegram_" + strconv.Itoa(resp.StatusCode),
			Message: fmt.Sprintf("sendMessage answered HTTP %d with a body that is not Bot API JSON", resp.StatusCode)}
		// Not the Bot API's own answer (a proxy's page, a truncated body): a
		// 4xx refused the request, but after a 2xx or 5xx nobody can tell
		// whether Telegram posted the message.
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			se.Unknown = true
		}
		return "", se
	}
	if ans.OK {
		if resp.StatusCode == http.StatusOK {
			return strconv.FormatInt(ans.Result.MessageID, 10), nil
		}
		return "", &domain.SendError{Code: "telegram_" + strconv.Itoa(resp.StatusCode), Unknown: true,
			Message: fmt.Sprintf("sendMessage answered \"ok\":true with HTTP %d", resp.StatusCode)}
	}
	code := ans.ErrorCode
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

// notSentError: no connection was obtained, so nothing was written and the
// call may be repeated. The error text is not used: it holds the URL, and
// the URL holds the token.
func notSentError(err error) error {
	var netErr net.Error
	code, msg := "telegram_unreachable", "the Bot API could not be reached (nothing was sent)"
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		code, msg = "telegram_connect_timeout", "no connection to the Bot API in time (nothing was sent)"
	}
	return &domain.SendError{Code: code, Message: msg, Retryable: true}
}

// unknownError: the request may have reached Telegram, but its answer was
// lost (a timeout, a dropped connection, a body cut short).
func unknownError(err error, during string) error {
	var netErr net.Error
	code, msg := "telegram_answer_lost", "the connection failed while "+during
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		code, msg = "timeout", "no answer in time while "+during
	}
	return &domain.SendError{Code: code, Message: msg, Unknown: true}
}
