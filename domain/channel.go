package domain

import (
	"regexp"
	"strings"
)

// ChannelStream names a channel's stream.
func ChannelStream(channelID string) string { return "channel-" + channelID }

// Channel statuses, parse modes and connected-account facts.
const (
	ChannelActive   = "active"
	ChannelInactive = "inactive"

	ParseModeHTML       = "HTML"
	ParseModeMarkdownV2 = "MarkdownV2"
	ParseModeNone       = "none"

	AccountTelegramBot = "telegram-bot"
	AccountActive      = "active"
)

// Channel binding rules: each failure has its own code (seed 000).
var (
	ErrAccountNotOwned         = &Error{Code: "connected_account_not_found", Message: "connected_account_id names no connected account of this user"}
	ErrAccountInactive         = &Error{Code: "connected_account_inactive", Message: "the connected account is not active"}
	ErrAccountProviderMismatch = &Error{Code: "connected_account_not_telegram_bot", Message: "the connected account is not a telegram-bot account"}
	ErrChannelNotFound         = &Error{Code: "channel_not_found", Message: "no such channel"}
)

// ChannelCreated binds a provider chat or channel to an instance through a connected account.
type ChannelCreated struct {
	ChannelID          string `json:"channel_id"`
	InstanceID         string `json:"instance_id"`
	OwnerID            string `json:"owner_id"`
	Provider           string `json:"provider"`
	ConnectedAccountID string `json:"connected_account_id"`
	ChannelName        string `json:"channel_name"`
	ExternalChannelID  string `json:"external_channel_id"`
	ParseMode          string `json:"parse_mode"`
	Status             string `json:"status"`
}

func (ChannelCreated) EventType() string { return "ChannelCreated" }

// ChannelStatusChanged turns a channel on or off.
type ChannelStatusChanged struct {
	ChannelID string `json:"channel_id"`
	From      string `json:"from"`
	To        string `json:"to"`
}

func (ChannelStatusChanged) EventType() string { return "ChannelStatusChanged" }

// Channel is the state of a channel aggregate.
type Channel struct {
	ID      string
	Version int64
	Created ChannelCreated
	Status  string
}

// NewChannel is the state before the first event.
func NewChannel(id string) Channel { return Channel{ID: id, Version: -1} }

// EvolveChannel applies one event.
func EvolveChannel(c Channel, env Envelope) Channel {
	switch e := env.Payload.(type) {
	case ChannelCreated:
		c.Created, c.Status = e, e.Status
	case ChannelStatusChanged:
		c.Status = e.To
	}
	c.Version = int64(env.Raw.Revision)
	return c
}

// ConnectedAccount is what a channel rule needs to know of an account.
type ConnectedAccount struct {
	ID       string
	OwnerID  string
	Provider string
	Status   string
}

// CreateChannelCommand is the seed's channel JSON, with the account it names
// (Found is false when there is no such account).
type CreateChannelCommand struct {
	ChannelID          string
	InstanceID         string
	OwnerID            string
	Provider           string
	ConnectedAccountID string
	ChannelName        string
	ExternalChannelID  string
	ParseMode          string
	Account            ConnectedAccount
	AccountFound       bool
}

var telegramChatID = regexp.MustCompile(`^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$`)

// DecideCreateChannel validates a binding and returns its event.
func DecideCreateChannel(cmd CreateChannelCommand) ([]Event, error) {
	if cmd.Provider == "" {
		return nil, Errorf(ErrMissingField, "provider is required")
	}
	if cmd.Provider != ProviderTelegram {
		return nil, Errorf(ErrInvalidField, "provider must be telegram: only Telegram channels can be bound for now")
	}
	if cmd.ConnectedAccountID == "" {
		return nil, Errorf(ErrMissingField, "connected_account_id is required")
	}
	if _, err := CleanLine("connected_account_id", cmd.ConnectedAccountID, 128); err != nil {
		return nil, err
	}
	name, err := CleanLine("channel_name", cmd.ChannelName, 100)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, Errorf(ErrMissingField, "channel_name is required")
	}
	ext := strings.TrimSpace(cmd.ExternalChannelID)
	if ext == "" {
		return nil, Errorf(ErrMissingField, "external_channel_id is required")
	}
	if !telegramChatID.MatchString(ext) {
		return nil, Errorf(ErrInvalidField, "external_channel_id must be a Telegram chat id (e.g. -1001234567890) or @channelusername")
	}
	mode := cmd.ParseMode
	if mode == "" {
		mode = ParseModeNone
	}
	if mode != ParseModeHTML && mode != ParseModeMarkdownV2 && mode != ParseModeNone {
		return nil, Errorf(ErrInvalidField, "parse_mode must be HTML, MarkdownV2 or none")
	}
	if !cmd.AccountFound || cmd.Account.OwnerID != cmd.OwnerID {
		return nil, ErrAccountNotOwned
	}
	if cmd.Account.Provider != AccountTelegramBot {
		return nil, ErrAccountProviderMismatch
	}
	if cmd.Account.Status != AccountActive {
		return nil, ErrAccountInactive
	}
	return []Event{ChannelCreated{
		ChannelID: cmd.ChannelID, InstanceID: cmd.InstanceID, OwnerID: cmd.OwnerID, Provider: cmd.Provider,
		ConnectedAccountID: cmd.ConnectedAccountID, ChannelName: name, ExternalChannelID: ext, ParseMode: mode,
		Status: ChannelActive,
	}}, nil
}

// DecideChannelStatus returns the status change, or nothing when it is already so.
func DecideChannelStatus(c Channel, instanceID, status string) ([]Event, error) {
	if c.Version < 0 || c.Created.InstanceID != instanceID {
		return nil, ErrChannelNotFound
	}
	if status != ChannelActive && status != ChannelInactive {
		return nil, Errorf(ErrInvalidField, "status must be active or inactive")
	}
	if status == c.Status {
		return nil, nil
	}
	return []Event{ChannelStatusChanged{ChannelID: c.ID, From: c.Status, To: status}}, nil
}
