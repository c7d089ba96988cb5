package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/socialops/socialops/adapters/bots"
	"github.com/socialops/socialops/adapters/http/operatorapi"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/domain"
)

// Errors of the HTTP layer itself.
var (
	errUnauthenticated  = &domain.Error{Code: "unauthenticated", Message: "send an X-API-Key header or the provider's signature"}
	errInvalidSignature = &domain.Error{Code: "invalid_signature", Message: "the provider signature or secret token does not match"}
	errForbidden        = &domain.Error{Code: "forbidden", Message: "this key may not act on this instance"}
	errMissingScope     = &domain.Error{Code: "missing_scope", Message: "the API key lacks the scope this endpoint needs"}
	errTooLarge         = &domain.Error{Code: "payload_too_large", Message: "the request body is larger than allowed"}
	errMediaType        = &domain.Error{Code: "unsupported_media_type", Message: "the request body must be application/json"}
	errUnavailable      = &domain.Error{Code: "service_unavailable", Message: "a backing service is unavailable; retry later"}
	errInternal         = &domain.Error{Code: "internal_error", Message: "an internal error occurred"}
	errNotFound         = &domain.Error{Code: "not_found", Message: "no such endpoint"}
	errMethod           = &domain.Error{Code: "method_not_allowed", Message: "this endpoint does not accept that method"}
)

// statusOf maps every error code to its HTTP status, in one place.
var statusOf = map[string]int{
	domain.ErrInvalidPayload.Code:       http.StatusBadRequest,
	domain.ErrInvalidField.Code:         http.StatusBadRequest,
	domain.ErrMissingField.Code:         http.StatusUnprocessableEntity,
	domain.ErrUnsupportedProvider.Code:  http.StatusNotFound,
	domain.ErrInstanceNotFound.Code:     http.StatusNotFound,
	domain.ErrThreadNotFound.Code:       http.StatusNotFound,
	domain.ErrConcurrencyExhausted.Code: http.StatusConflict,
	postgres.ErrAliasTaken.Code:         http.StatusConflict,
	postgres.ErrInvalidAlias.Code:       http.StatusBadRequest,
	postgres.ErrUnknownScope.Code:       http.StatusBadRequest,
	postgres.ErrKeyNotFound.Code:        http.StatusUnauthorized,
	errUnauthenticated.Code:             http.StatusUnauthorized,
	errInvalidSignature.Code:            http.StatusUnauthorized,
	errForbidden.Code:                   http.StatusForbidden,
	errMissingScope.Code:                http.StatusForbidden,
	errTooLarge.Code:                    http.StatusRequestEntityTooLarge,
	errInvalidParameter.Code:            http.StatusBadRequest,
	errPositionAhead.Code:               http.StatusBadRequest,
	errRateLimited.Code:                 http.StatusTooManyRequests,
	errAuthRateLimited.Code:             http.StatusTooManyRequests,
	errMediaType.Code:                   http.StatusUnsupportedMediaType,
	errUnavailable.Code:                 http.StatusServiceUnavailable,
	errInternal.Code:                    http.StatusInternalServerError,
	errNotFound.Code:                    http.StatusNotFound,
	errMethod.Code:                      http.StatusMethodNotAllowed,
	// Console (user JWT) authentication and connected accounts.
	errInvalidToken.Code:                   http.StatusUnauthorized,
	errConsoleDisabled.Code:                http.StatusUnauthorized,
	errMissingPermission.Code:              http.StatusForbidden,
	errCSRF.Code:                           http.StatusForbidden,
	postgres.ErrAccountNotFound.Code:       http.StatusNotFound,
	domain.ErrAccountNotOwned.Code:         http.StatusUnprocessableEntity,
	domain.ErrAccountInactive.Code:         http.StatusUnprocessableEntity,
	domain.ErrAccountProviderMismatch.Code: http.StatusUnprocessableEntity,
	domain.ErrChannelNotFound.Code:         http.StatusNotFound,
	postgres.ErrIdempotencyKeyReused.Code:  http.StatusUnprocessableEntity,
	// Operators and sessions.
	domain.ErrOperatorNotFound.Code:          http.StatusNotFound,
	domain.ErrOperatorDeleted.Code:           http.StatusConflict,
	domain.ErrOperatorNameTaken.Code:         http.StatusConflict,
	domain.ErrOperatorNotAssignable.Code:     http.StatusUnprocessableEntity,
	domain.ErrOperatorAtCapacity.Code:        http.StatusConflict,
	domain.ErrSessionWrongStatus.Code:        http.StatusConflict,
	operatorapi.ErrOrganizationNotFound.Code: http.StatusNotFound,
	// Outbound webhooks (issue 11).
	webhooks.ErrSubscriptionNotFound.Code: http.StatusNotFound,
	webhooks.ErrDeliveryNotFound.Code:     http.StatusNotFound,
	webhooks.ErrURLNotAllowed.Code:        http.StatusUnprocessableEntity,
	// Integration credentials (issue 15).
	postgres.ErrCredentialExpired.Code: http.StatusUnauthorized,
	postgres.ErrCredentialMissing.Code: http.StatusNotFound,
	postgres.ErrInvalidCIDR.Code:       http.StatusBadRequest,
	errIPNotAllowed.Code:               http.StatusForbidden,
	errStaleTimestamp.Code:             http.StatusUnauthorized,
	errReplayedNonce.Code:              http.StatusUnauthorized,
	errSignatureInvalid.Code:           http.StatusUnauthorized,
	// Seed 002 REST resources (issue 15).
	domain.ErrContactNotFound.Code:        http.StatusNotFound,
	domain.ErrConversationInProgress.Code: http.StatusConflict,
	domain.ErrMessageNotFound.Code:        http.StatusNotFound,
	domain.ErrMessageNotEditable.Code:     http.StatusConflict,
	domain.ErrMessageInDelivery.Code:      http.StatusConflict,
	// Contacts, customers, orders and tickets (issue 16).
	domain.ErrContactMerged.Code:    http.StatusConflict,
	domain.ErrMergeNotAllowed.Code:  http.StatusConflict,
	domain.ErrCustomerNotFound.Code: http.StatusNotFound,
	domain.ErrTicketNotFound.Code:   http.StatusNotFound,
	// Bots (issue 13).
	bots.ErrBotNotFound.Code:                http.StatusNotFound,
	bots.ErrBotNameTaken.Code:               http.StatusConflict,
	bots.ErrBadBotToken.Code:                http.StatusUnauthorized,
	domain.ErrSessionHandledByOperator.Code: http.StatusConflict,
	// Reports (issue 17).
	domain.ErrReportTooLarge.Code: http.StatusUnprocessableEntity,
}

// statusOfError is err's status, code and message as writeError answers
// them (for faces with an envelope of their own).
func statusOfError(err error) (int, string, string) {
	var de *domain.Error
	switch {
	case errors.As(err, &de):
	case unavailable(err):
		de = errUnavailable
	default:
		de = errInternal
	}
	status, ok := statusOf[de.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	return status, de.Code, de.Message
}

// errorCode is err's code, or "" for an error without one.
func errorCode(err error) string {
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

type errorBody struct {
	Success bool      `json:"success"`
	Error   errorInfo `json:"error"`
}

type errorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with the error's code and status. Errors without a code
// are internal: logged in full, answered without detail. A code missing from
// statusOf is a server bug, never the caller's: it answers 500 so that
// providers retry and alerts fire.
func writeError(c *gin.Context, logger *slog.Logger, err error) {
	var de *domain.Error
	switch {
	case errors.As(err, &de):
	case unavailable(err):
		logger.Warn("backing service unavailable", "path", c.FullPath(), "request_id", requestID(c), "error", err)
		de = errUnavailable
	default:
		logger.Error("request failed", "path", c.FullPath(), "request_id", requestID(c), "error", err)
		de = errInternal
	}
	status, ok := statusOf[de.Code]
	if !ok {
		logger.Error("error code without an HTTP status", "path", c.FullPath(), "request_id", requestID(c), "code", de.Code)
		status = http.StatusInternalServerError
	}
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	c.Set("error_code", de.Code)
	c.AbortWithStatusJSON(status, errorBody{Error: errorInfo{Code: de.Code, Message: de.Message}})
}

// refused tells whether err is the request's fault (a coded error answered
// with a 4xx): the command stored nothing, so what the request claimed may be
// given back.
func refused(err error) bool {
	var de *domain.Error
	if !errors.As(err, &de) {
		return false
	}
	status := statusOf[de.Code]
	return status >= 400 && status < 500
}

// unavailable tells whether an error means the database or event store could
// not be reached or went away mid-request (a restart, a timeout).
func unavailable(err error) bool {
	var connErr *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exceptions; 57P01-57P03: shutdown, crash, not accepting connections yet.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}
