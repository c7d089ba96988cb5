package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/domain"
)

// The console sets an instance's WeCom settings (what `socialops wecom set`
// sets) and shows them without their secrets.

type wecomSettingsBody struct {
	CorpID  *string `json:"corp_id"`
	AgentID *int64  `json:"agent_id"`
	Token   *string `json:"token"`
	AESKey  *string `json:"aes_key"`
	Secret  *string `json:"secret"`
}

// wecomSettingsView never carries the token, the EncodingAESKey or the secret.
type wecomSettingsView struct {
	Configured   bool   `json:"configured"`
	CorpID       string `json:"corp_id,omitempty"`
	AgentID      int64  `json:"agent_id,omitempty"`
	SendsReplies bool   `json:"sends_replies"`
	CallbackPath string `json:"callback_path"`
}

func (h *handlers) wecomView(c *gin.Context) (wecomSettingsView, error) {
	inst := instanceOf(c)
	v := wecomSettingsView{CallbackPath: "/v1/apps/socialops/" + inst.Alias + "/wecom/callback"}
	s, found, err := h.Tenancy.WeComSettings(c.Request.Context(), inst.ID)
	if err != nil || !found {
		return v, err
	}
	v.Configured, v.CorpID, v.AgentID, v.SendsReplies = true, s.CorpID, s.AgentID, s.Secret != ""
	return v, nil
}

// getWeComSettings serves GET /console/socialops/:alias/wecom.
func (h *handlers) getWeComSettings(c *gin.Context) {
	v, err := h.wecomView(c)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"wecom": v})
}

// putWeComSettings serves PUT /console/socialops/:alias/wecom: every field but
// the secret is required (the secret only for sending replies).
func (h *handlers) putWeComSettings(c *gin.Context) {
	var body wecomSettingsBody
	if err := decodeBody(c, 16<<10, &body); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	for _, f := range []struct {
		name    string
		missing bool
	}{{"corp_id", body.CorpID == nil}, {"agent_id", body.AgentID == nil}, {"token", body.Token == nil}, {"aes_key", body.AESKey == nil}} {
		if f.missing {
			writeError(c, h.Logger, domain.Errorf(domain.ErrMissingField, "%s is required", f.name))
			return
		}
	}
	s := postgres.WeComSettings{CorpID: *body.CorpID, AgentID: *body.AgentID, Token: *body.Token, AESKey: *body.AESKey}
	if body.Secret != nil {
		s.Secret = *body.Secret
	}
	if err := h.Tenancy.SetWeComSettings(c.Request.Context(), instanceOf(c).Alias, s); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	v, err := h.wecomView(c)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"wecom": v})
}
