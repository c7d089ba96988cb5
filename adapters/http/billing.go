package httpapi

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/projections"
)

// formatUSD renders micro-USD as a decimal string (no floats anywhere).
func formatUSD(micro int64) string {
	sign := ""
	if micro < 0 {
		sign, micro = "-", -micro
	}
	return fmt.Sprintf("%s%d.%06d", sign, micro/1_000_000, micro%1_000_000)
}

// balance serves GET …/billing/balance: the instance owner's wallet.
func (h *handlers) balance(c *gin.Context) {
	if !h.readYourWrites(c, projections.WalletProjector{}.Name()) {
		return
	}
	b, err := projections.Balance(c.Request.Context(), h.Reads, instanceOf(c).OwnerID)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"balance_micro_usd": b, "balance_usd": formatUSD(b), "currency": "USD"})
}

// ledger serves GET …/billing/ledger: credits, charges and refunds, newest first.
func (h *handlers) ledger(c *gin.Context) {
	page, limit, err := paging(c)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if !h.readYourWrites(c, projections.WalletProjector{}.Name()) {
		return
	}
	l, err := projections.Ledger(c.Request.Context(), h.Reads, instanceOf(c).OwnerID, page, limit)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, l)
}
