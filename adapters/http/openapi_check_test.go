package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/socialops/socialops/adapters/http/openapi"
)

// The OpenAPI document, loaded once for the whole package and only read after.
var apiDoc = sync.OnceValues(func() (*apiContract, error) {
	doc, err := openapi.Load(context.Background())
	if err != nil {
		return nil, err
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	return &apiContract{doc: doc, router: router}, nil
})

type apiContract struct {
	doc    *openapi3.T
	router routers.Router
}

func contract(t testing.TB) *apiContract {
	t.Helper()
	c, err := apiDoc()
	if err != nil {
		t.Fatalf("the OpenAPI document does not load: %v", err)
	}
	return c
}

// validationOptions: undocumented statuses fail; authentication is the
// server's business (the document only declares the schemes), so every
// credential is accepted here; schema errors are kept short (the reason and
// where), since a failing value may be a megabyte.
func validationOptions() *openapi3filter.Options {
	o := &openapi3filter.Options{
		IncludeResponseStatus: true,
		AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error {
			return nil
		},
	}
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		return fmt.Sprintf("%s (at /%s)", err.Reason, strings.Join(err.JSONPointer(), "/"))
	})
	return o
}

// exchange is one request and the answer it got.
type exchange struct {
	method  string
	url     string // absolute, query included
	header  http.Header
	body    []byte
	status  int
	rheader http.Header
	rbody   []byte
}

// check validates an exchange against the document. The rules:
//
//   - The answer is always validated: its status must be documented for the
//     operation, and its headers and body must match. A request the document
//     has no operation for must be the router's own 404 not_found or 405
//     method_not_allowed, in the error envelope.
//   - The request is validated too, but a mismatch fails only when the server
//     answered 2xx: tests send invalid requests on purpose (bad JSON, wrong
//     content types, oversized bodies, bad parameters), and a server refusing
//     them agrees with the document. A request the document calls invalid yet
//     the server accepted means one of them is wrong.
func (c *apiContract) check(x exchange) error {
	ctx := context.Background()
	req, err := http.NewRequestWithContext(ctx, x.method, x.url, bytes.NewReader(x.body))
	if err != nil {
		return err
	}
	req.Header = x.header.Clone()
	where := fmt.Sprintf("%s %s answered %d", x.method, req.URL.RequestURI(), x.status)

	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if (x.status == http.StatusNotFound && errors.Is(err, routers.ErrPathNotFound)) ||
			(x.status == http.StatusMethodNotAllowed && errors.Is(err, routers.ErrMethodNotAllowed)) {
			return c.checkRouterError(x, where)
		}
		return fmt.Errorf("OpenAPI: %s, but the document has no operation for it (%v)", where, err)
	}
	opts := validationOptions()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && x.status >= 200 && x.status < 300 {
		return fmt.Errorf("OpenAPI: %s to a request the document calls invalid (operation %s): %v",
			where, route.Operation.OperationID, err)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: x.status, Header: x.rheader, Options: opts,
	}
	out.SetBodyBytes(x.rbody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("OpenAPI: %s, which does not match operation %s: %v\nbody: %s",
			where, route.Operation.OperationID, err, excerpt(x.rbody))
	}
	return nil
}

// checkRouterError validates gin's NoRoute/NoMethod answer, which belongs to
// no operation, against the Error schema.
func (c *apiContract) checkRouterError(x exchange, where string) error {
	var body any
	if err := json.Unmarshal(x.rbody, &body); err != nil {
		return fmt.Errorf("OpenAPI: %s with a body that is not JSON: %s", where, excerpt(x.rbody))
	}
	if err := c.doc.Components.Schemas["Error"].Value.VisitJSON(body); err != nil {
		return fmt.Errorf("OpenAPI: %s, not in the Error schema: %v\nbody: %s", where, err, excerpt(x.rbody))
	}
	code, _ := body.(map[string]any)["error"].(map[string]any)["code"].(string)
	if want := map[int]string{404: "not_found", 405: "method_not_allowed"}[x.status]; code != want {
		return fmt.Errorf("OpenAPI: %s with code %q for a route the document does not have; want %q", where, code, want)
	}
	return nil
}

func excerpt(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + fmt.Sprintf("… (%d bytes)", len(b))
	}
	return string(b)
}

// checkDocument is what the harness calls after every request.
func (h *harness) checkDocument(x exchange) {
	h.t.Helper()
	if err := contract(h.t).check(x); err != nil {
		h.t.Error(err) // Error, not Fatal: h.do also runs in goroutines
	}
}
