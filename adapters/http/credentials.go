package httpapi

import (
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/domain"
)

// maxCredentialBodyBytes caps the bodies of the credential routes.
const maxCredentialBodyBytes = 8 << 10

// registerCredentials mounts API-key management on the API-key face (the
// write scope; a key can hand out only scopes it has itself) and on the
// console (service:read to list, service:manage to change).
func (h *handlers) registerCredentials(api *gin.RouterGroup, console *gin.RouterGroup, read, manage func(gin.HandlerFunc) []gin.HandlerFunc) {
	write := h.apiKeyAuth(postgres.ScopeWrite)
	api.GET("/api-keys", write, h.listCredentials)
	api.POST("/api-keys", write, h.createCredential)
	api.POST("/api-keys/:key_id/revoke", write, h.revokeCredential)
	api.POST("/api-keys/:key_id/rotate", write, h.rotateCredential)
	console.GET("/:alias/api-keys", read(h.listCredentials)...)
	console.POST("/:alias/api-keys", manage(h.createCredential)...)
	console.POST("/:alias/api-keys/:key_id/revoke", manage(h.revokeCredential)...)
	console.POST("/:alias/api-keys/:key_id/rotate", manage(h.rotateCredential)...)
}

// credentialView is a credential as the API shows it: never its secret,
// except Key (or Secret) once, in the answer that created it.
type credentialView struct {
	ID            string     `json:"id"`
	Kind          string     `json:"kind"`
	PublicID      string     `json:"public_id,omitempty"`
	Name          string     `json:"name"`
	Instance      *string    `json:"instance"`
	Scopes        []string   `json:"scopes"`
	AllowedIPs    []string   `json:"allowed_ips"`
	RatePerSecond *float64   `json:"rate_per_second"`
	OperatorID    *int64     `json:"operator_id"`
	CreatedAt     time.Time  `json:"created_at"`
	LastUsedAt    *time.Time `json:"last_used_at"`
	ExpiresAt     *time.Time `json:"expires_at"`
	RevokedAt     *time.Time `json:"revoked_at"`
	Key           string     `json:"key,omitempty"`
}

func viewCredential(k postgres.APIKey, secret string) credentialView {
	v := credentialView{ID: k.ID, Kind: k.Kind, PublicID: k.PublicID, Name: k.Name, Scopes: k.Scopes,
		AllowedIPs: make([]string, 0, len(k.AllowedCIDRs)), CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt,
		ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, Key: secret}
	if k.InstanceAlias != "" {
		v.Instance = &k.InstanceAlias
	}
	for _, p := range k.AllowedCIDRs {
		v.AllowedIPs = append(v.AllowedIPs, p.String())
	}
	if k.RatePerSecond > 0 {
		v.RatePerSecond = &k.RatePerSecond
	}
	if k.OperatorID != 0 {
		v.OperatorID = &k.OperatorID
	}
	return v
}

// callerCredential is the credential of an API-key request (absent for the console).
func callerCredential(c *gin.Context) (postgres.APIKey, bool) {
	v, ok := c.Get(ctxCredential)
	if !ok {
		return postgres.APIKey{}, false
	}
	k, ok := v.(postgres.APIKey)
	return k, ok
}

// listCredentials lists the credentials of the instance and the owner-wide
// ones (an instance-scoped caller sees only the instance's).
func (h *handlers) listCredentials(c *gin.Context) {
	inst := instanceOf(c)
	keys, err := h.Tenancy.ListCredentials(c.Request.Context(), inst.OwnerID, inst.Alias)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	caller, isKey := callerCredential(c)
	out := make([]credentialView, 0, len(keys))
	for _, k := range keys {
		if isKey && caller.InstanceID != "" && k.InstanceID != caller.InstanceID {
			continue
		}
		out = append(out, viewCredential(k, ""))
	}
	ok(c, http.StatusOK, gin.H{"api_keys": out})
}

// createCredential creates an API key of the instance (always scoped to it).
func (h *handlers) createCredential(c *gin.Context) {
	var body struct {
		Name          string   `json:"name"`
		Scopes        []string `json:"scopes"`
		ExpiresIn     *int64   `json:"expires_in"`
		AllowedIPs    []string `json:"allowed_ips"`
		RatePerSecond *float64 `json:"rate_per_second"`
		OperatorID    *int64   `json:"operator_id"`
	}
	if err := decodeBody(c, maxCredentialBodyBytes, &body); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	inst := instanceOf(c)
	spec := postgres.CredentialSpec{OwnerID: inst.OwnerID, InstanceAlias: inst.Alias, Name: body.Name,
		Scopes: body.Scopes, AllowedCIDRs: body.AllowedIPs}
	if body.ExpiresIn != nil {
		if *body.ExpiresIn <= 0 {
			writeError(c, h.Logger, domain.Errorf(domain.ErrInvalidField, "expires_in is a positive number of seconds"))
			return
		}
		spec.ExpiresIn = time.Duration(min(*body.ExpiresIn, 1<<32)) * time.Second
	}
	if body.RatePerSecond != nil {
		if *body.RatePerSecond <= 0 {
			writeError(c, h.Logger, domain.Errorf(domain.ErrInvalidField, "rate_per_second is positive"))
			return
		}
		spec.RatePerSecond = *body.RatePerSecond
	}
	if body.OperatorID != nil {
		if *body.OperatorID <= 0 {
			writeError(c, h.Logger, domain.Errorf(domain.ErrInvalidField, "operator_id is a positive operator id"))
			return
		}
		spec.OperatorID = *body.OperatorID
	}
	if caller, isKey := callerCredential(c); isKey {
		for _, s := range body.Scopes {
			if slices.Contains(postgres.KnownScopes, s) && !caller.HasScope(s) {
				writeError(c, h.Logger, domain.Errorf(errMissingScope, "a key can hand out only scopes it has; it lacks %s", s))
				return
			}
		}
		if caller.OperatorID != 0 && spec.OperatorID != caller.OperatorID {
			writeError(c, h.Logger, domain.Errorf(errForbidden, "a key bound to an operator creates keys bound to the same operator"))
			return
		}
	}
	secret, key, err := h.Tenancy.CreateCredentialAPIKey(c.Request.Context(), spec)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	h.Logger.Info("api key created", "key_id", key.ID, "instance", inst.Alias, "actor", actorOf(c).ID)
	ok(c, http.StatusCreated, viewCredential(key, secret))
}

// managedCredential finds a credential the caller may change: one of the
// instance (or an owner-wide one, for an owner-wide caller or the console).
func (h *handlers) managedCredential(c *gin.Context) (postgres.APIKey, bool) {
	inst := instanceOf(c)
	k, err := h.Tenancy.CredentialByID(c.Request.Context(), c.Param("key_id"))
	if err == nil && k.OwnerID != inst.OwnerID {
		err = domain.Errorf(postgres.ErrCredentialMissing, "no credential %q", c.Param("key_id"))
	}
	caller, isKey := callerCredential(c)
	if err == nil && k.InstanceID != "" && k.InstanceID != inst.ID {
		err = domain.Errorf(postgres.ErrCredentialMissing, "no credential %q", c.Param("key_id"))
	}
	if err == nil && k.InstanceID == "" && isKey && caller.InstanceID != "" {
		err = domain.Errorf(postgres.ErrCredentialMissing, "no credential %q", c.Param("key_id"))
	}
	if err != nil {
		writeError(c, h.Logger, err)
		return postgres.APIKey{}, false
	}
	return k, true
}

// revokeCredential revokes at once (every process refuses it within a second).
func (h *handlers) revokeCredential(c *gin.Context) {
	k, found := h.managedCredential(c)
	if !found {
		return
	}
	k, err := h.Tenancy.RevokeCredential(c.Request.Context(), k.ID)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	h.Logger.Info("credential revoked", "key_id", k.ID, "actor", actorOf(c).ID)
	ok(c, http.StatusOK, viewCredential(k, ""))
}

// rotateCredential replaces an API key by a new one with the same settings.
func (h *handlers) rotateCredential(c *gin.Context) {
	k, found := h.managedCredential(c)
	if !found {
		return
	}
	secret, key, err := h.Tenancy.RotateAPIKey(c.Request.Context(), k.ID)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	h.Logger.Info("api key rotated", "old_key_id", k.ID, "key_id", key.ID, "actor", actorOf(c).ID)
	ok(c, http.StatusCreated, viewCredential(key, secret))
}
