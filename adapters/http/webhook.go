package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/channelcallback"
	"github.com/socialops/socialops/adapters/generic"
	"github.com/socialops/socialops/adapters/github"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/telegram"
	"github.com/socialops/socialops/adapters/wecom"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// PositionHeader carries the log position a command wrote, for read-your-writes.
const PositionHeader = "X-SocialOps-Position"

var webhookProviders = map[string]bool{
	domain.ProviderGenericWebhook: true,
	domain.ProviderTelegram:       true,
	domain.ProviderGitHub:         true,
}

// threadProviders are the providers a thread can come from: the webhook's,
// WeCom's callback and seed 003's signed channel callbacks.
var threadProviders = map[string]bool{
	domain.ProviderGenericWebhook: true,
	domain.ProviderTelegram:       true,
	domain.ProviderGitHub:         true,
	wecom.Provider:                true,
	channelcallback.WeChat:        true,
	channelcallback.Douyin:        true,
	channelcallback.JD:            true,
}

// webhook is POST /v1/apps/socialops/:alias/webhook/:provider. Checks run in
// the order that lets each failure answer precisely and store nothing:
// provider, media type, size, authentication (which finds the instance),
// encoding, fields. Nothing before authentication depends on the alias, so an
// unknown alias answers exactly as a known one does.
func (h *handlers) webhook(c *gin.Context) {
	ctx := c.Request.Context()
	provider := c.Param("provider")
	if !webhookProviders[provider] {
		writeError(c, h.Logger, domain.Errorf(domain.ErrUnsupportedProvider, "provider %q is not supported; use generic-webhook, telegram or github", provider))
		return
	}
	if err := requireJSON(c); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	body, err := readBody(c, h.MaxBodyBytes)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	inst, actor, err := h.authenticateWebhook(c, c.Param("alias"), provider, body)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if actor.Kind == domain.ActorProvider {
		if !h.limit(c, "webhook:"+inst.ID+":"+provider) {
			return
		}
	} else if key, ok := callerCredential(c); ok && !h.limitCredential(c, key) {
		// An API key: its own rate, with the X-RateLimit-* headers.
		return
	}
	if !utf8.Valid(body) {
		writeError(c, h.Logger, domain.Errorf(domain.ErrInvalidPayload, "the body is not valid UTF-8"))
		return
	}
	if !json.Valid(body) {
		writeError(c, h.Logger, domain.Errorf(domain.ErrInvalidPayload, "the body is not valid JSON"))
		return
	}
	source, err := webhookSource(c)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	msg, err := normalize(provider, c.Request.Header, body)
	if errors.Is(err, domain.ErrEventIgnored) && provider == domain.ProviderTelegram {
		if h.recordMembership(c, inst, actor, body) {
			return
		}
	}
	if errors.Is(err, domain.ErrEventIgnored) {
		// Acknowledged so the provider does not retry; nothing is stored.
		c.JSON(http.StatusOK, gin.H{"status": "ignored", "provider": provider, "reason": err.Error()})
		return
	}
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	msg.Source = source
	res, err := h.Commands.IngestWebhook(ctx, commands.IngestWebhook{
		Instance:   inst,
		Message:    msg,
		RawPayload: json.RawMessage(body),
		Context:    commands.Context{Actor: actor, CorrelationID: requestID(c)},
	})
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	c.Header(PositionHeader, strconv.FormatUint(res.Position, 10))
	out := gin.H{"status": "accepted", "provider": provider, "thread_id": res.ThreadID, "message_id": res.MessageID}
	if res.Duplicate {
		out["duplicate"] = true
	}
	c.JSON(http.StatusAccepted, out)
}

// webhookSource is the optional ?source= of the webhook URL: it names the
// sender whose event ids count on their own (each Telegram bot, given in the
// URL passed to setWebhook), and is part of the deduplication scope (see
// domain.InboundEvent).
func webhookSource(c *gin.Context) (string, error) {
	source, set := c.GetQuery("source")
	if set && !validSource.MatchString(source) {
		return "", domain.Errorf(errInvalidParameter, "source must be 1 to 64 letters, digits, '.', '_' or '-'")
	}
	return source, nil
}

var validSource = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func normalize(provider string, header http.Header, body []byte) (domain.InboundMessage, error) {
	switch provider {
	case domain.ProviderTelegram:
		return telegram.Normalize(body)
	case domain.ProviderGitHub:
		return github.Normalize(header.Get("X-GitHub-Event"), header.Get("X-GitHub-Delivery"), body)
	default:
		return generic.Normalize(body)
	}
}

// requireJSON accepts application/json (and +json types) in UTF-8.
func requireJSON(c *gin.Context) error {
	ct := c.GetHeader("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !(len(mt) > 5 && mt[len(mt)-5:] == "+json")) {
		return domain.Errorf(errMediaType, "Content-Type %q is not application/json", ct)
	}
	if cs, ok := params["charset"]; ok && cs != "utf-8" && cs != "UTF-8" {
		return domain.Errorf(errMediaType, "charset %q is not utf-8", cs)
	}
	return nil
}

// readBody reads the whole body up to limit bytes.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	if c.Request.ContentLength > limit {
		return nil, domain.Errorf(errTooLarge, "the body is %d bytes; the limit is %d", c.Request.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, domain.Errorf(errTooLarge, "the body is larger than %d bytes", limit)
	}
	if err != nil {
		return nil, domain.Errorf(domain.ErrInvalidPayload, "the body could not be read: %v", err)
	}
	return body, nil
}

// authenticateWebhook accepts an API key with socialops:write of the
// instance's owner, or the provider's own proof, since Telegram and GitHub
// cannot send custom headers. It finds the instance of alias only as part of
// authentication: a caller without valid credentials gets the same 401 for an
// unknown alias as for a known one, and only an authenticated owner learns
// 404 instance_not_found (another owner's instance looks missing too).
func (h *handlers) authenticateWebhook(c *gin.Context, alias, provider string, body []byte) (domain.Instance, domain.Actor, error) {
	ctx := c.Request.Context()
	if key := c.GetHeader("X-API-Key"); key != "" {
		k, err := h.Tenancy.APIKeyBySecret(ctx, key)
		if err != nil {
			return domain.Instance{}, domain.Actor{}, err
		}
		inst, err := h.Tenancy.InstanceByAlias(ctx, alias)
		if err != nil {
			return domain.Instance{}, domain.Actor{}, err
		}
		if k.OwnerID != inst.OwnerID || (k.InstanceID != "" && k.InstanceID != inst.ID) {
			return domain.Instance{}, domain.Actor{}, domain.ErrInstanceNotFound
		}
		if addr, err := netip.ParseAddr(c.ClientIP()); err != nil || !k.AllowsIP(addr) {
			return domain.Instance{}, domain.Actor{}, domain.Errorf(errIPNotAllowed, "this credential may not be used from %s", c.ClientIP())
		}
		if !k.HasScope(postgres.ScopeWrite) {
			return domain.Instance{}, domain.Actor{}, domain.Errorf(errMissingScope, "the API key lacks %s", postgres.ScopeWrite)
		}
		c.Set(ctxCredential, k)
		return inst, domain.Actor{Kind: domain.ActorAPIKey, ID: k.ID}, nil
	}

	var proof string
	switch provider {
	case domain.ProviderTelegram:
		proof = c.GetHeader("X-Telegram-Bot-Api-Secret-Token")
	case domain.ProviderGitHub:
		proof = c.GetHeader("X-Hub-Signature-256")
	default:
		proof = c.GetHeader("X-Signature")
	}
	if proof == "" {
		return domain.Instance{}, domain.Actor{}, errUnauthenticated
	}
	inst, err := h.Tenancy.InstanceByAlias(ctx, alias)
	var secret string
	found := false
	switch {
	case errors.Is(err, domain.ErrInstanceNotFound):
	case err != nil:
		return domain.Instance{}, domain.Actor{}, err
	default:
		if secret, found, err = h.Tenancy.WebhookSecret(ctx, inst.ID, provider); err != nil {
			return domain.Instance{}, domain.Actor{}, err
		}
	}
	if !found {
		// No instance, or no secret for this provider: check the proof against
		// a secret nobody holds, so the answer is the one a wrong proof gets.
		h.Logger.Info("webhook proof refused: no webhook secret for this alias and provider",
			"alias", alias, "provider", provider, "instance_found", inst.ID != "", "request_id", requestID(c))
		secret = h.decoySecret
	}
	ok := false
	switch provider {
	case domain.ProviderTelegram:
		ok = telegram.VerifySecretToken(secret, proof)
	case domain.ProviderGitHub:
		ok = github.VerifySignature(secret, body, proof)
	default:
		if err := generic.VerifySignatureWithin(secret, c.GetHeader("X-Timestamp"), proof, body, h.Now(), h.WebhookTolerance); err != nil {
			return domain.Instance{}, domain.Actor{}, domain.Errorf(errInvalidSignature, "%v", err)
		}
		ok = true
	}
	if !ok || !found {
		return domain.Instance{}, domain.Actor{}, errInvalidSignature
	}
	return inst, domain.Actor{Kind: domain.ActorProvider, ID: provider}, nil
}

// recordMembership records the members a Telegram update says joined or
// left a conversation (issue 13); false when the update names none.
func (h *handlers) recordMembership(c *gin.Context, inst domain.Instance, actor domain.Actor, body []byte) bool {
	ms, err := telegram.NormalizeMembership(body)
	if err != nil || len(ms) == 0 {
		return false
	}
	changes := make([]domain.MemberChanged, 0, len(ms))
	for _, m := range ms {
		changes = append(changes, domain.MemberChanged{
			ThreadID: domain.InboundThreadID(inst.ID, domain.ProviderTelegram, m.ExternalThreadID), InstanceID: inst.ID,
			Joined: m.Joined, MemberID: m.Member.ExternalID, MemberName: m.Member.DisplayName,
			OperatorID: m.Operator.ExternalID, OperatorName: m.Operator.DisplayName, GroupType: m.ChatType,
			DialogName: m.ChatName, ProviderEventID: m.EventID})
	}
	n, pos, err := h.Commands.RecordMembership(c.Request.Context(), changes, commands.Context{Actor: actor, CorrelationID: requestID(c)})
	if err != nil {
		writeError(c, h.Logger, err)
		return true
	}
	if pos > 0 {
		c.Header(PositionHeader, strconv.FormatUint(pos, 10))
	}
	reason := "membership change of a chat with no conversation yet"
	if n > 0 {
		reason = "membership change recorded (not a message)"
	}
	c.JSON(http.StatusOK, gin.H{"status": "ignored", "provider": domain.ProviderTelegram, "reason": reason, "members": n})
	return true
}
