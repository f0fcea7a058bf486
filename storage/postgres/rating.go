package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/syncengine"
)

// ratingSecretBytes is the size of the rating-link signing key.
const ratingSecretBytes = 32

// RatingSecret returns the key rating tokens are signed with, creating it
// on first use. It lives in the database so that every node sharing it
// signs and checks alike: nodes racing to create it all read the winner's.
func (db *DB) RatingSecret(ctx context.Context) (_ []byte, err error) {
	defer classify(&err)
	fresh := make([]byte, ratingSecretBytes)
	rand.Read(fresh)
	var secret []byte
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rating_secrets (id, secret, created_time) VALUES (1, $1, $2)
			ON CONFLICT (id) DO NOTHING`, fresh, ms(now)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT secret FROM rating_secrets WHERE id = 1`).Scan(&secret)
	})
	if err != nil {
		return nil, fmt.Errorf("rating secret: %w", err)
	}
	return secret, nil
}

// IssueRatingToken stores an issued rating token by its hash: the quote of
// the tenant it rates, who issued it and when it expires.
func (db *DB) IssueRatingToken(ctx context.Context, hash []byte, tenantID, quoteID, createdBy string, expires time.Time) (err error) {
	defer classify(&err)
	_, err = db.pool.Exec(ctx, `INSERT INTO rating_tokens (token_hash, tenant_id, quote_id, created_by, created_time, expire_time)
		VALUES ($1, $2, $3, $4, $5, $6)`, hash, tenantID, quoteID, createdBy, ms(db.Now()), ms(expires))
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
	defer classify(&err)
	var created int64
	err = db.pool.QueryRow(ctx, `SELECT tenant_id, quote_id, created_time FROM rating_tokens
		WHERE token_hash = $1 AND used_time IS NULL AND expire_time > $2`, hash, ms(db.Now())).Scan(&tenantID, &quoteID, &created)
	if noRows(err) {
		return "", "", time.Time{}, errRatingToken
	}
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("rating token: %w", err)
	}
	return tenantID, quoteID, fromMS(created), nil
}

// ClaimRatingToken marks a live rating token of the tenant used (see
// syncengine.Tx). The row lock the update takes makes a second claim of
// the token wait for this transaction, then find it used.
func (t *recTx) ClaimRatingToken(hash []byte, tenantID string) error {
	conn, err := t.sync()
	if err != nil {
		return err
	}
	tag, err := conn.Exec(t.ctx, `UPDATE rating_tokens SET used_time = $1
		WHERE token_hash = $2 AND tenant_id = $3 AND used_time IS NULL AND expire_time > $1`, ms(t.now), hash, tenantID)
	if err != nil {
		return fmt.Errorf("claim rating token: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return errRatingToken
	}
	return nil
}
