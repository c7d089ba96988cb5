package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/http/openapi"
)

// registerDocs serves the OpenAPI document and its reference page. They are
// public, like /healthz: the document holds no secret.
func registerDocs(r *gin.Engine, h *handlers) {
	r.GET("/openapi.yaml", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/yaml; charset=utf-8", openapi.YAML())
	})
	r.GET("/openapi.json", func(c *gin.Context) {
		doc, err := openapi.JSON()
		if err != nil {
			writeError(c, h.Logger, err)
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", doc)
	})
	r.GET("/docs", func(c *gin.Context) {
		c.Data(http.StatusOK, "text/html; charset=utf-8", openapi.DocsPage())
	})
	r.GET("/docs/assets/redoc.standalone.js", func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=86400")
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", openapi.RendererJS())
	})
}
