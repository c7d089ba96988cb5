// Package openapi holds SocialOps' OpenAPI document, which describes every
// route the HTTP face serves, and the pinned renderer of its reference page.
// Both are embedded in the binary. The document is hand-written YAML kept
// beside the code it describes; adapters/http's tests check every request
// and answer against it, so it cannot drift. This package knows nothing of
// gin or of the handlers.
package openapi

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// The vendored renderer: npm redoc's bundles/redoc.standalone.js, unchanged
// (see vendor/README.md).
const (
	RendererVersion = "2.5.4"
	RendererSHA256  = "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b"
)

//go:embed openapi.yaml
var documentYAML []byte

//go:embed vendor/redoc.standalone.js
var rendererJS []byte

// YAML is the document as kept in the repository.
func YAML() []byte { return documentYAML }

// RendererJS is Redoc's standalone bundle, served for the reference page.
func RendererJS() []byte { return rendererJS }

var documentJSON = sync.OnceValues(func() ([]byte, error) {
	var tree any
	if err := yaml.Unmarshal(documentYAML, &tree); err != nil {
		return nil, fmt.Errorf("openapi: parse the document: %w", err)
	}
	tree, err := jsonTree(tree)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, fmt.Errorf("openapi: encode the document as JSON: %w", err)
	}
	return buf.Bytes(), nil
})

// JSON is the same document as JSON, converted from the YAML once.
func JSON() ([]byte, error) { return documentJSON() }

// jsonTree turns what yaml.v3 decodes into what encoding/json can encode:
// mappings with non-string keys (a bare 200) get their keys as strings.
func jsonTree(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			c, err := jsonTree(e)
			if err != nil {
				return nil, err
			}
			v[k] = c
		}
		return v, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			c, err := jsonTree(e)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = c
		}
		return out, nil
	case []any:
		for i, e := range v {
			c, err := jsonTree(e)
			if err != nil {
				return nil, err
			}
			v[i] = c
		}
		return v, nil
	default:
		return v, nil
	}
}

// Load parses the document, resolves its references and validates it as
// OpenAPI 3. Each call returns a fresh document the caller may keep.
func Load(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(documentYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi: load the document: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("openapi: the document is not valid OpenAPI 3: %w", err)
	}
	return doc, nil
}

// DocsPage is the HTML of the reference page. Its links are relative to
// /docs (the document at /openapi.json, the renderer under /docs/assets/), so
// it also works behind a path prefix, and it loads nothing from other hosts.
func DocsPage() []byte { return docsPage }

var docsPage = []byte(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SocialOps API reference</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<noscript>This page needs JavaScript. The document itself is at <a href="openapi.yaml">openapi.yaml</a> and <a href="openapi.json">openapi.json</a>.</noscript>
<redoc spec-url="openapi.json"></redoc>
<script src="docs/assets/redoc.standalone.js"></script>
</body>
</html>
`)
