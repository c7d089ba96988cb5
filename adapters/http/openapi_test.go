package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/http/openapi"
)

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// Every route gin serves has an operation in the document, and every
// operation a route: a new endpoint cannot ship undocumented, nor a document
// promise an endpoint that is gone.
func TestEveryRouteHasAnOperationAndEveryOperationARoute(t *testing.T) {
	routes := map[string]bool{}
	for _, r := range httpapi.NewRouter(httpapi.Deps{}).Routes() {
		routes[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	ops := map[string]bool{}
	doc := contract(t).doc
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops[method+" "+path] = true
		}
	}
	var undocumented, unserved []string
	for r := range routes {
		if !ops[r] {
			undocumented = append(undocumented, r)
		}
	}
	for o := range ops {
		if !routes[o] {
			unserved = append(unserved, o)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unserved)
	assert.Empty(t, undocumented, "routes without an operation in adapters/http/openapi/openapi.yaml")
	assert.Empty(t, unserved, "operations in adapters/http/openapi/openapi.yaml without a route")
	assert.Contains(t, routes, "GET /v1/apps/socialops/{alias}/threads/{thread_id}/events", "the :param translation")
}

func TestDocumentIsValidOpenAPI(t *testing.T) {
	doc, err := openapi.Load(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "3.0.3", doc.OpenAPI)
	ids := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			require.NotEmpty(t, op.OperationID, "%s %s", method, path)
			assert.False(t, ids[op.OperationID], "operationId %s used twice", op.OperationID)
			ids[op.OperationID] = true
			assert.NotEmpty(t, op.Summary, op.OperationID)
			assert.NotNil(t, op.Responses.Status(500), "%s: every route can answer 500 internal_error", op.OperationID)
			if op.Security == nil || len(*op.Security) > 0 {
				assert.NotNil(t, op.Responses.Status(401), "%s is authenticated: 401", op.OperationID)
				assert.NotNil(t, op.Responses.Status(429), "%s is rate limited: 429", op.OperationID)
				assert.NotNil(t, op.Responses.Status(503), "%s reads the database: 503", op.OperationID)
			}
			if op.RequestBody != nil {
				want := []int{400, 413, 415}
				if op.RequestBody.Value.Content.Get("application/x-www-form-urlencoded") != nil {
					// RFC 6749 §5.2: a body of another type is invalid_request (400).
					want = []int{400, 413}
				}
				for _, s := range want {
					assert.NotNil(t, op.Responses.Status(s), "%s takes a body: %d", op.OperationID, s)
				}
			}
		}
	}
}

// The document, its JSON twin and the reference page are served, and the
// page needs nothing but this server.
func TestDocumentAndReferencePageAreServed(t *testing.T) {
	h := newHarness(t)

	r := h.do("GET", "/openapi.yaml", nil, nil)
	require.Equal(t, 200, r.status)
	assert.Equal(t, openapi.YAML(), r.body)
	assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "application/yaml"))

	r = h.do("GET", "/openapi.json", nil, nil)
	require.Equal(t, 200, r.status)
	assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "application/json"))
	fromJSON, err := openapi3.NewLoader().LoadFromData(r.body)
	require.NoError(t, err, "the JSON is an OpenAPI document")
	require.NoError(t, fromJSON.Validate(context.Background()))
	want, err := json.Marshal(contract(t).doc)
	require.NoError(t, err)
	got, err := json.Marshal(fromJSON)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got), "the JSON says what the YAML says")

	page := h.do("GET", "/docs", nil, nil)
	require.Equal(t, 200, page.status)
	assert.True(t, strings.HasPrefix(page.header.Get("Content-Type"), "text/html"))
	html := string(page.body)
	assert.Contains(t, html, `<redoc spec-url="openapi.json">`)
	assert.Contains(t, html, `<script src="docs/assets/redoc.standalone.js">`)
	assert.NotRegexp(t, `(src|href)="(https?:)?//`, html, "the page loads nothing from another host")

	js := h.do("GET", "/docs/assets/redoc.standalone.js", nil, nil)
	require.Equal(t, 200, js.status)
	assert.True(t, strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript"))
	assert.Equal(t, openapi.RendererJS(), js.body)
	sum := sha256.Sum256(js.body)
	assert.Equal(t, openapi.RendererSHA256, hex.EncodeToString(sum[:]), "the vendored file is the pinned release, unchanged")
	assert.Contains(t, string(js.body), `"`+openapi.RendererVersion+`"`)

	// Unknown paths and methods answer in the error envelope too.
	assert.Equal(t, 404, h.do("GET", "/docs/assets/nothing.js", nil, nil).status)
	assert.Equal(t, 405, h.do("POST", "/openapi.json", nil, nil).status)
}

// The checker every harness request goes through catches an answer that
// breaks the document: a wrong field type, a missing field, an undocumented
// status, a missing required header, an error code outside the list; and a
// request the document refuses that the server nevertheless accepted.
func TestDocumentCheckCatchesWrongAnswers(t *testing.T) {
	c := contract(t)
	gin.SetMode(gin.ReleaseMode)
	bad := gin.New()
	balance := "/v1/apps/socialops/:alias/billing/balance"
	bad.GET(balance, func(ctx *gin.Context) {
		switch ctx.Query("case") {
		case "type":
			ctx.JSON(200, gin.H{"success": true, "data": gin.H{"balance_micro_usd": "lots", "balance_usd": "1.000000", "currency": "USD"}})
		case "missing":
			ctx.JSON(200, gin.H{"success": true, "data": gin.H{"balance_micro_usd": 1}})
		case "extra":
			ctx.JSON(200, gin.H{"success": true, "data": gin.H{"balance_micro_usd": 1, "balance_usd": "0.000001", "currency": "USD", "owner_id": "u"}})
		case "status":
			ctx.JSON(http.StatusTeapot, gin.H{"success": false, "error": gin.H{"code": "teapot", "message": "no"}})
		case "code":
			ctx.JSON(404, gin.H{"success": false, "error": gin.H{"code": "nope", "message": "no"}})
		case "envelope":
			ctx.JSON(404, gin.H{"error": "no such instance"})
		case "header":
			ctx.JSON(429, gin.H{"success": false, "error": gin.H{"code": "rate_limited", "message": "slow down"}})
		default:
			ctx.JSON(200, gin.H{"success": true, "data": gin.H{"balance_micro_usd": 1, "balance_usd": "0.000001", "currency": "USD"}})
		}
	})
	bad.POST("/console/socialops/:alias/threads/:thread_id/notes", func(ctx *gin.Context) {
		// Accepts anything: the document refuses an empty body.
		ctx.Header("X-SocialOps-Position", "7")
		ctx.JSON(201, gin.H{"success": true, "data": gin.H{"message": gin.H{"message_id": "somsg_1", "thread_id": "soth_1",
			"direction": "internal", "message_type": "text", "text": "", "sender_name": "u"}}})
	})
	srv := httptest.NewServer(bad)
	defer srv.Close()

	call := func(method, path, body string) exchange {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-API-Key", "sk_test")
		req.Header.Set("Authorization", "Bearer x")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return exchange{method: method, url: req.URL.String(), header: req.Header, body: []byte(body),
			status: resp.StatusCode, rheader: resp.Header, rbody: raw}
	}

	require.NoError(t, c.check(call("GET", "/v1/apps/socialops/support/billing/balance", "")), "a right answer passes")
	for name, want := range map[string]string{
		"type":     "balance_micro_usd",
		"missing":  "balance_usd",
		"extra":    "owner_id",
		"status":   "status is not supported",
		"code":     "nope",
		"envelope": "schemas/Error",
		"header":   "Retry-After",
	} {
		err := c.check(call("GET", "/v1/apps/socialops/support/billing/balance?case="+name, ""))
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), want, name)
		assert.Contains(t, err.Error(), "getBalance", "the message names the operation")
	}
	err := c.check(call("POST", "/console/socialops/support/threads/soth_1/notes", `{}`))
	require.Error(t, err, "the server accepted what the document refuses")
	assert.Contains(t, err.Error(), "request the document calls invalid")
	assert.Contains(t, err.Error(), "text")

	// A route the document does not know, answered as if it existed.
	bad.GET("/v1/apps/socialops/:alias/secret", func(ctx *gin.Context) { ctx.JSON(200, gin.H{}) })
	err = c.check(call("GET", "/v1/apps/socialops/support/secret", ""))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no operation")

	// A tampered copy of a real answer fails too.
	h := newHarness(t)
	r := h.do("GET", "/healthz", nil, nil)
	x := exchange{method: "GET", url: h.srv.URL + "/healthz", header: http.Header{}, status: r.status, rheader: r.header, rbody: r.body}
	require.NoError(t, c.check(x))
	x.rbody = []byte(`{"status":"fine"}`)
	assert.ErrorContains(t, c.check(x), "healthz")
}
