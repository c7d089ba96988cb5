package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/http/integration"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// registerReports mounts SocialOps' own report routes beside seed 002's
// (adapters/http/integration/statistics.go), for API keys and the console:
// the same report, and the instance's reporting settings.
func (h *handlers) registerReports(api, console *gin.RouterGroup, read, manage func(gin.HandlerFunc) []gin.HandlerFunc) {
	reports := integration.ReportReader{Reads: h.Reads, Instance: instanceOf, ReadYourWrites: h.readYourWrites,
		WriteError: func(c *gin.Context, err error) { writeError(c, h.Logger, err) }}
	api.GET("/reports", h.apiKeyAuth(postgres.ScopeRead), reports.Serve)
	api.GET("/reports/settings", h.apiKeyAuth(postgres.ScopeRead), h.reportSettings)
	api.PUT("/reports/settings", h.apiKeyAuth(postgres.ScopeWrite), h.putReportSettings)
	console.GET("/:alias/reports", read(reports.Serve)...)
	console.GET("/:alias/reports/settings", read(h.reportSettings)...)
	console.PUT("/:alias/reports/settings", manage(h.putReportSettings)...)
}

// reportSettings serves GET …/reports/settings: the time zone and business hours.
func (h *handlers) reportSettings(c *gin.Context) {
	if !h.readYourWrites(c, projections.ReportsProjector{}.Name()) {
		return
	}
	s, err := projections.GetReportSettings(c.Request.Context(), h.Reads, instanceOf(c).ID)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, s)
}

// putReportSettings serves PUT …/reports/settings {"time_zone", "business_hours"}.
func (h *handlers) putReportSettings(c *gin.Context) {
	var body struct {
		TimeZone      *string                 `json:"time_zone"`
		BusinessHours []domain.BusinessWindow `json:"business_hours"`
	}
	if err := decodeBody(c, 16<<10, &body); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if body.TimeZone == nil {
		writeError(c, h.Logger, domain.Errorf(domain.ErrMissingField, "time_zone is required: an IANA time zone name such as Asia/Shanghai"))
		return
	}
	if err := domain.ValidateReportSettings(*body.TimeZone, body.BusinessHours); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	// The projector converts times in Postgres: its time zone database
	// must know the name too.
	var known bool
	if err := h.Reads.QueryRow(c.Request.Context(), `SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)`, *body.TimeZone).Scan(&known); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if !known {
		writeError(c, h.Logger, domain.Errorf(domain.ErrInvalidField, "time_zone %q is not known to the database's time zone list", *body.TimeZone))
		return
	}
	pos, err := h.Commands.ChangeReportSettings(c.Request.Context(), instanceOf(c).ID, *body.TimeZone, body.BusinessHours, h.commandContext(c))
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	writePosition(c, pos)
	hours := body.BusinessHours
	if hours == nil {
		hours = []domain.BusinessWindow{}
	}
	ok(c, http.StatusOK, projections.ReportSettings{TimeZone: *body.TimeZone, BusinessHours: hours})
}
