package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

// ratingSecretBytes is the size of the rating-link signing key.
const ratingSecretBytes = 32

// RatingSecret returns the key rating tokens are signed with, creating it
// on first use. It lives in the database so that every node sharing it
// signs and checks alike.
func (db *DB) RatingSecret(ctx context.Context) ([]byte, error) {
	var secret []byte
	err := db.read.QueryRowContext(ctx, `SELECT secret FROM rating_secrets WHERE id = 1`).Scan(&secret)
	if err == nil {
		return secret, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("rating secret: %w", err)
	}
	fresh := make([]byte, ratingSecretBytes)
	rand.Read(fresh)
	err = db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO rating_secrets (id, secret, created_time) VALUES (1, ?, ?)`, fresh, ms(now)); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT secret FROM rating_secrets WHERE id = 1`).Scan(&secret)
	})
	if err != nil {
		return nil, fmt.Errorf("rating secret: %w", err)
	}
	return secret, nil
}

// IssueRatingToken stores an issued rating token by its hash: the quote of
// the tenant it rates, who issued it and when it expires.
func (db *DB) IssueRatingToken(ctx context.Context, hash []byte, tenantID, quoteID, createdBy string, expires time.Time) error {
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO rating_tokens (token_hash, tenant_id, quote_id, created_by, created_time, expire_time) VALUES (?, ?, ?, ?, ?, ?)`,
			hash, tenantID, quoteID, createdBy, ms(now), ms(expires))
		return err
	})
	if err != nil {
		return fmt.Errorf("issue rating token: %w", err)
	}
	return nil
}

// errRatingToken is the one answer for a rating token that is unknown,
// used or expired.
var errRatingToken = syncengine.Errorf(syncengine.CodeNotFound, "rating token is unknown, used or expired")

// RatingToken returns the tenant and quote of a live rating token (unused,
// unexpired) and when it was issued. An unknown, used or expired token is
// CodeNotFound, the same error for each.
func (db *DB) RatingToken(ctx context.Context, hash []byte) (tenantID, quoteID string, issued time.Time, err error) {
	var created int64
	err = db.read.QueryRowContext(ctx,
		`SELECT tenant_id, quote_id, created_time FROM rating_tokens WHERE token_hash = ? AND used_time IS NULL AND expire_time > ?`,
		hash, ms(db.Now())).Scan(&tenantID, &quoteID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", time.Time{}, errRatingToken
	}
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("rating token: %w", err)
	}
	return tenantID, quoteID, fromMS(created), nil
}

// ClaimRatingToken marks a live rating token of the tenant used (see
// syncengine.Tx).
func (t *recTx) ClaimRatingToken(hash []byte, tenantID string) error {
	res, err := t.tx.ExecContext(t.ctx, `UPDATE rating_tokens SET used_time = ? WHERE token_hash = ? AND tenant_id = ? AND used_time IS NULL AND expire_time > ?`,
		ms(t.now), hash, tenantID, ms(t.now))
	if err != nil {
		return fmt.Errorf("claim rating token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errRatingToken
	}
	return nil
}
