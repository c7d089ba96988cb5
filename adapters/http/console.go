package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// withConsoleInstance resolves :alias for the signed-in user (404 otherwise).
func (h *handlers) withConsoleInstance(c *gin.Context) {
	if _, ok := h.consoleInstance(c); !ok {
		return
	}
	c.Next()
}

// listInstances serves GET /console/socialops/instances: the user's instances only.
func (h *handlers) listInstances(c *gin.Context) {
	insts, err := h.Tenancy.SettingsOfOwner(c.Request.Context(), userOf(c))
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	type view struct {
		Alias          string `json:"alias"`
		Service        string `json:"service"`
		Name           string `json:"name"`
		OrganizationID int64  `json:"organization_id"`
		Routing        string `json:"routing"`
	}
	out := make([]view, 0, len(insts))
	for _, i := range insts {
		out = append(out, view{Alias: i.Alias, Service: "socialops", Name: i.Name, OrganizationID: i.OrganizationID, Routing: i.Routing})
	}
	ok(c, http.StatusOK, gin.H{"instances": out})
}

// decodeBody reads a JSON object body into v, rejecting unknown fields, so a
// typo is a precise 400 instead of a silent no-op.
func decodeBody(c *gin.Context, limit int64, v any) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	body, err := readBody(c, limit)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return domain.Errorf(domain.ErrInvalidField, "%s must be a %s", typeErr.Field, typeErr.Type.String())
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return domain.Errorf(domain.ErrInvalidField, "%s", strings.TrimPrefix(err.Error(), "json: "))
		default:
			return domain.Errorf(domain.ErrInvalidPayload, "the body is not a valid JSON object: %v", err)
		}
	}
	if dec.More() {
		return domain.Errorf(domain.ErrInvalidPayload, "the body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Errorf(domain.ErrInvalidPayload, "the body holds more than one JSON value")
	}
	return nil
}

func (h *handlers) commandContext(c *gin.Context) commands.Context {
	return commands.Context{Actor: actorOf(c), CorrelationID: requestID(c)}
}

func writePosition(c *gin.Context, pos uint64) {
	if pos > 0 {
		c.Header(PositionHeader, strconv.FormatUint(pos, 10))
	}
}

// listChannels serves GET /console/socialops/:alias/channels.
func (h *handlers) listChannels(c *gin.Context) {
	if !h.readYourWrites(c, projections.ChannelsProjector{}.Name()) {
		return
	}
	chans, err := projections.ListChannels(c.Request.Context(), h.Reads, instanceOf(c).ID)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"channels": chans})
}

type channelBody struct {
	Provider           string `json:"provider"`
	ConnectedAccountID string `json:"connected_account_id"`
	ChannelName        string `json:"channel_name"`
	ExternalChannelID  string `json:"external_channel_id"`
	ParseMode          string `json:"parse_mode"`
}

func channelView(ch domain.ChannelCreated, status string, at time.Time) projections.ChannelView {
	return projections.ChannelView{
		ChannelID: ch.ChannelID, Provider: ch.Provider, ConnectedAccountID: ch.ConnectedAccountID, ChannelName: ch.ChannelName,
		ExternalChannelID: ch.ExternalChannelID, ParseMode: ch.ParseMode, Status: status, CreatedAt: at, UpdatedAt: at,
	}
}

// createChannel serves POST /console/socialops/:alias/channels (seed 000's JSON).
func (h *handlers) createChannel(c *gin.Context) {
	var body channelBody
	if err := decodeBody(c, 64<<10, &body); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	inst := instanceOf(c)
	cmd := domain.CreateChannelCommand{
		InstanceID: inst.ID, OwnerID: inst.OwnerID, Provider: body.Provider, ConnectedAccountID: strings.TrimSpace(body.ConnectedAccountID),
		ChannelName: body.ChannelName, ExternalChannelID: body.ExternalChannelID, ParseMode: body.ParseMode,
	}
	// An id with a control character names no account (and Postgres could
	// not even look it up): the domain refuses it as invalid_field.
	if cmd.ConnectedAccountID != "" && h.Accounts != nil && !domain.HasControl(cmd.ConnectedAccountID) {
		acct, err := h.Accounts.Get(c.Request.Context(), cmd.ConnectedAccountID)
		switch {
		case err == nil:
			cmd.Account = domain.ConnectedAccount{ID: acct.ID, OwnerID: acct.OwnerID, Provider: acct.Provider, Status: acct.Status}
			cmd.AccountFound = true
		case errors.Is(err, postgres.ErrAccountNotFound):
		default:
			writeError(c, h.Logger, err)
			return
		}
	}
	res, err := h.Commands.CreateChannel(c.Request.Context(), commands.CreateChannel{Command: cmd, Context: h.commandContext(c)})
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	writePosition(c, res.Position)
	ok(c, http.StatusCreated, gin.H{"channel": channelView(res.Channel, res.Status, h.Now().UTC())})
}

type channelPatch struct {
	Status *string `json:"status"`
}

// patchChannel serves PATCH /console/socialops/:alias/channels/:channel_id ({"status":"inactive"|"active"}).
func (h *handlers) patchChannel(c *gin.Context) {
	var body channelPatch
	if err := decodeBody(c, 16<<10, &body); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if body.Status == nil {
		writeError(c, h.Logger, domain.Errorf(domain.ErrMissingField, "status is required"))
		return
	}
	channelID := c.Param("channel_id")
	if !strings.HasPrefix(channelID, domain.PrefixChannel) {
		writeError(c, h.Logger, domain.ErrChannelNotFound)
		return
	}
	res, err := h.Commands.SetChannelStatus(c.Request.Context(), commands.SetChannelStatus{
		InstanceID: instanceOf(c).ID, ChannelID: channelID, Status: *body.Status, Context: h.commandContext(c),
	})
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	writePosition(c, res.Position)
	ok(c, http.StatusOK, gin.H{"channel": channelView(res.Channel, res.Status, h.Now().UTC())})
}

type textBody struct {
	Text *string `json:"text"`
}

// textOnThread reads the {"text": …} body and the :thread_id of a note or
// reply; on failure it has answered and returns ok false.
func (h *handlers) textOnThread(c *gin.Context) (text, threadID string, ok bool) {
	var body textBody
	if err := decodeBody(c, 64<<10, &body); err != nil {
		writeError(c, h.Logger, err)
		return "", "", false
	}
	if body.Text == nil {
		writeError(c, h.Logger, domain.Errorf(domain.ErrMissingField, "text is required"))
		return "", "", false
	}
	threadID, okID := threadParam(c)
	if !okID {
		writeError(c, h.Logger, domain.ErrThreadNotFound)
		return "", "", false
	}
	return *body.Text, threadID, true
}

// addNote serves POST /console/socialops/:alias/threads/:thread_id/notes.
func (h *handlers) addNote(c *gin.Context) {
	text, threadID, valid := h.textOnThread(c)
	if !valid {
		return
	}
	res, err := h.Commands.AddNote(c.Request.Context(), commands.AddNote{
		InstanceID: instanceOf(c).ID, ThreadID: threadID, Text: text, Context: h.commandContext(c),
	})
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	writePosition(c, res.Position)
	ok(c, http.StatusCreated, gin.H{"message": gin.H{
		"message_id": res.Note.MessageID, "thread_id": res.Note.ThreadID, "direction": projections.DirectionInternal,
		"message_type": domain.MessageText, "text": res.Note.Text, "sender_name": res.Note.AuthorID,
	}})
}

func threadParam(c *gin.Context) (string, bool) {
	id := c.Param("thread_id")
	return id, strings.HasPrefix(id, domain.PrefixThread) && len(id) < 100 && !domain.HasControl(id)
}

// queueReply serves POST …/threads/:thread_id/replies (console and API key):
// an outbound message plus a send_reply action in pending. An
// Idempotency-Key from the same user within 24 hours returns the first reply
// when the request is the same (thread and text) and is refused when it is
// not. The key is claimed only after the body is validated, and given back
// when the command refuses the request (an unknown thread, say), so a failed
// first try does not hold it.
func (h *handlers) queueReply(c *gin.Context) {
	text, threadID, valid := h.textOnThread(c)
	if !valid {
		return
	}
	cmd := commands.QueueReply{InstanceID: instanceOf(c).ID, ThreadID: threadID, Text: text, Context: h.commandContext(c)}
	var release func()
	if key := c.GetHeader("Idempotency-Key"); key != "" {
		if len(key) > 255 || strings.ContainsFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			writeError(c, h.Logger, domain.Errorf(domain.ErrInvalidField, "Idempotency-Key must be 1 to 255 visible ASCII characters"))
			return
		}
		cleaned, err := domain.CleanText("text", text, domain.MaxReplyRunes)
		if err != nil {
			writeError(c, h.Logger, err)
			return
		}
		actor := actorOf(c)
		user := actor.Kind + ":" + actor.ID
		claimed, fresh, err := h.Idempotency.Claim(c.Request.Context(), user, key, postgres.ClaimedReply{
			ThreadID: threadID, MessageID: domain.RandomID(domain.PrefixMessage, domain.CryptoRandom), ActionID: domain.RandomID(domain.PrefixAction, domain.CryptoRandom),
			RequestHash: postgres.ReplyRequestHash(threadID, cleaned),
		})
		if err != nil {
			writeError(c, h.Logger, err)
			return
		}
		cmd.MessageID, cmd.ActionID = claimed.MessageID, claimed.ActionID
		if fresh {
			release = func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 5*time.Second)
				defer cancel()
				if err := h.Idempotency.Release(ctx, user, key, claimed); err != nil {
					h.Logger.Error("could not release an idempotency key", "request_id", requestID(c), "error", err)
				}
			}
		}
	}
	res, err := h.Commands.QueueReply(c.Request.Context(), cmd)
	if err != nil && release != nil && refused(err) {
		release()
	}
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	status := domain.ActionPending
	if res.Replayed {
		c.Header("Idempotent-Replayed", "true")
		if st, found, err := projections.ActionStatus(c.Request.Context(), h.Reads, res.Reply.ActionID); err == nil && found {
			status = st
		}
	}
	writePosition(c, res.Position)
	r := res.Reply
	ok(c, http.StatusCreated, gin.H{
		"message": gin.H{
			"message_id": r.MessageID, "thread_id": r.ThreadID, "direction": projections.DirectionOutbound,
			"message_type": domain.MessageText, "text": r.Text, "delivery_status": status,
		},
		"action": gin.H{"action_id": r.ActionID, "action_type": r.ActionType, "status": status},
	})
}

// threadPatch is PATCH …/threads/:thread_id: any subset of the three fields;
// "assignee": null or "" unassigns.
type threadPatch struct {
	Status   *string         `json:"status"`
	Priority *string         `json:"priority"`
	Assignee json.RawMessage `json:"assignee"`
}

// patchThread serves PATCH /console/socialops/:alias/threads/:thread_id.
func (h *handlers) patchThread(c *gin.Context) {
	var body threadPatch
	if err := decodeBody(c, 16<<10, &body); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	changes := domain.ThreadChanges{Status: body.Status, Priority: body.Priority}
	if body.Assignee != nil {
		var a *string
		if err := json.Unmarshal(body.Assignee, &a); err != nil {
			writeError(c, h.Logger, domain.Errorf(domain.ErrInvalidField, "assignee must be a string or null"))
			return
		}
		empty := ""
		if a == nil {
			a = &empty
		}
		changes.Assignee = a
	}
	threadID, okID := threadParam(c)
	if !okID {
		writeError(c, h.Logger, domain.ErrThreadNotFound)
		return
	}
	res, err := h.Commands.UpdateThread(c.Request.Context(), commands.UpdateThread{
		InstanceID: instanceOf(c).ID, ThreadID: threadID, Changes: changes, Context: h.commandContext(c),
	})
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	writePosition(c, res.Position)
	var assignee *string
	if res.Thread.Assignee != "" {
		assignee = &res.Thread.Assignee
	}
	changed := make([]string, 0, len(res.Events))
	for _, e := range res.Events {
		changed = append(changed, e.EventType())
	}
	ok(c, http.StatusOK, gin.H{"thread": gin.H{
		"thread_id": threadID, "status": res.Thread.Status, "priority": res.Thread.Priority, "assignee": assignee,
	}, "changes": changed})
}

// listActions serves GET …/threads/:thread_id/actions.
func (h *handlers) listActions(c *gin.Context) {
	if !h.readYourWrites(c, projections.InboxProjector{}.Name(), projections.ActionsProjector{}.Name()) {
		return
	}
	threadID, found := h.threadOfInstance(c, instanceOf(c))
	if !found {
		return
	}
	actions, err := projections.ListActions(c.Request.Context(), h.Reads, threadID)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"actions": actions})
}
