package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/socialops/socialops/domain"
)

type editMessageTextRequest struct {
	ChatID    string `json:"chat_id"`
	MessageID int64  `json:"message_id"`
	Text      string `json:"text"`
	ParseMode string `json:"parse_mode,omitempty"`
}

type deleteMessageRequest struct {
	ChatID    string `json:"chat_id"`
	MessageID int64  `json:"message_id"`
}

// EditMessageText changes the text of a message the bot sent (Bot API
// editMessageText). Failures are *domain.SendError naming the method only.
func (s *Sender) EditMessageText(ctx context.Context, token, chatID, messageID, text, parseMode string) error {
	id, err := strconv.ParseInt(messageID, 10, 64)
	if err != nil {
		return &domain.SendError{Code: "telegram_request", Message: "the message id is not a Telegram message_id"}
	}
	return s.call(ctx, token, "editMessageText", editMessageTextRequest{ChatID: chatID, MessageID: id, Text: text, ParseMode: parseMode})
}

// DeleteMessage deletes a message the bot sent (Bot API deleteMessage; a
// bot can delete its own messages for 48 hours).
func (s *Sender) DeleteMessage(ctx context.Context, token, chatID, messageID string) error {
	id, err := strconv.ParseInt(messageID, 10, 64)
	if err != nil {
		return &domain.SendError{Code: "telegram_request", Message: "the message id is not a Telegram message_id"}
	}
	return s.call(ctx, token, "deleteMessage", deleteMessageRequest{ChatID: chatID, MessageID: id})
}

// call posts a Bot API method whose result is not needed. Unlike sendMessage,
// repeating an edit or a delete is harmless, so every failure is just an
// error with the Bot API's description.
func (s *Sender) call(ctx context.Context, token, method string, req any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return &domain.SendError{Code: "telegram_request", Message: "could not encode the " + method + " request"}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.BaseURL+"/bot"+token+"/"+method, bytes.NewReader(body))
	if err != nil {
		return &domain.SendError{Code: "telegram_request", Message: "could not build the " + method + " request"}
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(hr)
	if err != nil {
		// The error text holds the URL, and the URL holds the token.
		return &domain.SendError{Code: "telegram_unreachable", Message: method + " could not reach the Bot API", Retryable: true}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &domain.SendError{Code: "telegram_" + strconv.Itoa(resp.StatusCode), Message: "could not read the " + method + " answer"}
	}
	var ans struct {
		OK          bool   `json:"ok"`
		ErrorCode   int    `json:"error_code"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return &domain.SendError{Code: "telegram_" + strconv.Itoa(resp.StatusCode),
			Message: fmt.Sprintf("%s answered HTTP %d with a body that is not Bot API JSON", method, resp.StatusCode)}
	}
	if !ans.OK {
		return &domain.SendError{Code: "telegram_" + strconv.Itoa(ans.ErrorCode), Message: ans.Description,
			Retryable: ans.ErrorCode == http.StatusTooManyRequests || ans.ErrorCode >= 500}
	}
	return nil
}
