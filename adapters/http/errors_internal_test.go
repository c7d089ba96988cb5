package httpapi

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"

	"github.com/socialops/socialops/domain"
)

func TestWriteErrorStatus(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"plain error", errors.New("something broke"), http.StatusInternalServerError, "internal_error"},
		{"internal_error code", errInternal, http.StatusInternalServerError, "internal_error"},
		{"a coded error nobody mapped", &domain.Error{Code: "brand_new_code", Message: "x"}, http.StatusInternalServerError, "brand_new_code"},
		{"a mapped 4xx", domain.ErrThreadNotFound, http.StatusNotFound, "thread_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gin.SetMode(gin.ReleaseMode)
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest("GET", "/", nil)
			writeError(c, logger, tc.err)
			assert.Equal(t, tc.status, w.Code)
			assert.Contains(t, w.Body.String(), `"code":"`+tc.code+`"`)
		})
	}
}
