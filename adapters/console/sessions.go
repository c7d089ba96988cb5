package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	httpapi "github.com/socialops/socialops/adapters/http"
)

// CookieName is the console session cookie.
const CookieName = "socialops_console"

// sessions keeps browser sessions in Postgres (migration 00029): the cookie
// is a random id; the table keeps its SHA-256.
type sessions struct {
	pool    *pgxpool.Pool
	csrfKey []byte
	now     func() time.Time
}

// errLinkUsed refuses a sign-in link that was used already.
var errLinkUsed = errors.New("this sign-in link was used already: ask for a new one (socialops console link)")

func hashID(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// csrfOf is the CSRF token of a session id: an HMAC, so nothing more is stored.
func (s *sessions) csrfOf(id string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// open starts a session and returns its cookie value. linkID, when set, is
// the one-time link it redeems: recorded in the same transaction, so a link
// opens at most one session.
func (s *sessions) open(ctx context.Context, user string, permissions []string, expires time.Time, linkID string) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if linkID != "" {
			tag, err := tx.Exec(ctx, `INSERT INTO console_link_uses (link_id, user_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				linkID, user, expires)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return errLinkUsed
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at < $1`, s.now().Add(-24*time.Hour)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM console_link_uses WHERE expires_at < $1`, s.now().Add(-24*time.Hour)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO console_sessions (id_hash, user_id, permissions, expires_at) VALUES ($1, $2, $3, $4)`,
			hashID(id), user, permissions, expires)
		return err
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// FromRequest resolves the request's session cookie (httpapi.ConsoleSessions).
func (s *sessions) FromRequest(r *http.Request) (httpapi.ConsoleSession, bool, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 100 || strings.ContainsAny(ck.Value, " ;,") {
		return httpapi.ConsoleSession{}, false, nil
	}
	var out httpapi.ConsoleSession
	err = s.pool.QueryRow(r.Context(), `SELECT user_id, permissions, expires_at FROM console_sessions
		WHERE id_hash = $1 AND signed_out_at IS NULL AND expires_at > $2`, hashID(ck.Value), s.now()).
		Scan(&out.UserID, &out.Permissions, &out.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return httpapi.ConsoleSession{}, false, nil
	}
	if err != nil {
		return httpapi.ConsoleSession{}, false, fmt.Errorf("console session: %w", err)
	}
	out.CSRFToken = s.csrfOf(ck.Value)
	return out, true, nil
}

// close signs a session out.
func (s *sessions) close(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE console_sessions SET signed_out_at = $2 WHERE id_hash = $1 AND signed_out_at IS NULL`, hashID(id), s.now())
	return err
}
