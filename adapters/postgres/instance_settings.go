package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// InstanceSettings are an instance's configuration rows: its display name,
// the integer organization id seed 004 names it by, and its routing mode.
type InstanceSettings struct {
	InstanceID     string `json:"instance_id"`
	Alias          string `json:"alias"`
	Name           string `json:"name"`
	OwnerID        string `json:"owner_id"`
	OrganizationID int64  `json:"organization_id"`
	Routing        string `json:"routing"`
	// AIModel overrides SOCIALOPS_AI_MODEL for the instance; AIDisabled
	// stops its model calls (summaries extractive, the built-in bot silent).
	AIModel    string `json:"ai_model"`
	AIDisabled bool   `json:"ai_disabled"`
}

// MaxInstanceNameRunes bounds an instance's display name.
const MaxInstanceNameRunes = 100

const settingsColumns = `instance_id, alias, name, owner_id, organization_id, routing, ai_model, ai_disabled`

func scanSettings(row pgx.Row) (InstanceSettings, error) {
	var s InstanceSettings
	err := row.Scan(&s.InstanceID, &s.Alias, &s.Name, &s.OwnerID, &s.OrganizationID, &s.Routing, &s.AIModel, &s.AIDisabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, domain.ErrInstanceNotFound
	}
	if err != nil {
		return s, fmt.Errorf("read instance settings: %w", err)
	}
	return s, nil
}

// Settings reads an instance's settings by id.
func (t *Tenancy) Settings(ctx context.Context, instanceID string) (InstanceSettings, error) {
	return scanSettings(t.pool.QueryRow(ctx, `SELECT `+settingsColumns+` FROM instances WHERE instance_id = $1`, instanceID))
}

// SettingsByAlias reads an instance's settings by alias.
func (t *Tenancy) SettingsByAlias(ctx context.Context, alias string) (InstanceSettings, error) {
	return scanSettings(t.pool.QueryRow(ctx, `SELECT `+settingsColumns+` FROM instances WHERE alias = $1`, alias))
}

// SettingsOfOwner lists an owner's instances with their settings, by alias.
func (t *Tenancy) SettingsOfOwner(ctx context.Context, ownerID string) ([]InstanceSettings, error) {
	rows, err := t.pool.Query(ctx, `SELECT `+settingsColumns+` FROM instances WHERE owner_id = $1 ORDER BY alias`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list instance settings: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (InstanceSettings, error) { return scanSettings(r) })
}

// SetSettings changes an instance's name and routing mode (nil: unchanged).
func (t *Tenancy) SetSettings(ctx context.Context, alias string, name, routing *string) (InstanceSettings, error) {
	if name != nil {
		n := strings.TrimSpace(*name)
		if !utf8.ValidString(n) || domain.HasControl(n) || utf8.RuneCountInString(n) > MaxInstanceNameRunes {
			return InstanceSettings{}, domain.Errorf(domain.ErrInvalidField, "name must be one line of at most %d characters", MaxInstanceNameRunes)
		}
		name = &n
	}
	if routing != nil && *routing != domain.RoutingAuto && *routing != domain.RoutingManual {
		return InstanceSettings{}, domain.Errorf(domain.ErrInvalidField, "routing must be auto or manual")
	}
	return scanSettings(t.pool.QueryRow(ctx, `UPDATE instances SET name = coalesce($2, name), routing = coalesce($3, routing)
		WHERE alias = $1 RETURNING `+settingsColumns, alias, name, routing))
}

// SetAISettings changes an instance's AI settings (nil: unchanged): its
// model (overriding SOCIALOPS_AI_MODEL; "" for that one) and whether model
// calls are off for it.
func (t *Tenancy) SetAISettings(ctx context.Context, alias string, model *string, disabled *bool) (InstanceSettings, error) {
	if model != nil {
		m := strings.TrimSpace(*model)
		if len(m) > 200 || domain.HasControl(m) {
			return InstanceSettings{}, domain.Errorf(domain.ErrInvalidField, "ai model is one line of at most 200 characters")
		}
		model = &m
	}
	return scanSettings(t.pool.QueryRow(ctx, `UPDATE instances SET ai_model = coalesce($2, ai_model), ai_disabled = coalesce($3, ai_disabled)
		WHERE alias = $1 RETURNING `+settingsColumns, alias, model, disabled))
}
