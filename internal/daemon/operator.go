package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fieldsync/fieldsync/internal/datadir"
	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/server"
)

// OperatorTokenFile is where fieldsyncd writes the operator token it
// generates when no --operator-token-file is given and its database holds
// none yet.
const OperatorTokenFile = datadir.OperatorTokenFile

// metaOperatorToken is the meta key of the hex SHA-256 of the operator
// token. The database, not a node's data dir, says which token SystemService
// accepts: every node sharing it accepts the same one, read on each call,
// and a node with an empty data dir serves SystemService too. The token
// itself is never stored.
const metaOperatorToken = "operator_token_sha256"

// setupOperatorToken makes sure the database names the operator token:
//   - --operator-token-file given: its token, replacing any other (the
//     operator's file is authoritative; give every node the same one);
//   - else a token in <data-dir>/operator-token (written by an earlier
//     start or by hand) unless the database names another already;
//   - else a new token, written to <data-dir>/operator-token (mode 0600),
//     unless the database names one already (made by another node, whose
//     data dir or the operator has it).
//
// It logs where the token is, never the token.
func (d *Daemon) setupOperatorToken(ctx context.Context) error {
	if path := d.cfg.OperatorTokenFile; path != "" {
		token, err := d.readOperatorToken(path)
		if err != nil {
			return err
		}
		return d.setOperatorToken(ctx, token, path)
	}
	path := filepath.Join(d.cfg.DataDir, OperatorTokenFile)
	token, err := d.readOperatorToken(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return d.generateOperatorToken(ctx, path)
	case err != nil:
		return err
	}
	stored, err := d.db.InitMeta(ctx, metaOperatorToken, tokenHash(token))
	if err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	if stored != tokenHash(token) {
		d.log.Warn("the operator token in the data dir is not the one the database holds (another node's or --operator-token-file's): it is refused", "file", path)
		return nil
	}
	d.log.Info("operator token for SystemService (fieldsync tenant …)", "file", path)
	return nil
}

// setOperatorToken makes the database name token, saying where it is.
func (d *Daemon) setOperatorToken(ctx context.Context, token, path string) error {
	prev, err := d.db.Meta(ctx, metaOperatorToken)
	if err == nil && prev != tokenHash(token) {
		err = d.db.SetMeta(ctx, metaOperatorToken, tokenHash(token))
	}
	if err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	if prev != "" && prev != tokenHash(token) {
		d.log.Warn("operator token replaced by --operator-token-file: the previous one no longer works on any node", "file", path)
	}
	d.log.Info("operator token for SystemService (fieldsync tenant …)", "file", path)
	return nil
}

// generateOperatorToken writes a new token to path and makes the database
// name it, unless the database names one already: then path is removed
// again and the node accepts that one.
func (d *Daemon) generateOperatorToken(ctx context.Context, path string) error {
	token := ids.Token("fso")
	if err := writeOperatorToken(path, token); err != nil {
		return err
	}
	stored, err := d.db.InitMeta(ctx, metaOperatorToken, tokenHash(token))
	if err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	if stored != tokenHash(token) {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("operator token: %w", err)
		}
		d.log.Info("operator token for SystemService: the one in the database (made by another node or given by --operator-token-file); this node's data dir has no copy")
		return nil
	}
	d.log.Info("operator token for SystemService generated (fieldsync tenant …)", "file", path)
	return nil
}

// readOperatorToken reads and checks a token file, warning when others
// may read it. A missing file is fs.ErrNotExist.
func (d *Daemon) readOperatorToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		d.log.Warn("the operator token file is readable by other users: chmod 600 it", "file", path)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < server.MinOperatorTokenLen || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("operator token in %s: want one line of at least %d characters without spaces", path, server.MinOperatorTokenLen)
	}
	return token, nil
}

// operatorTokenSHA256 returns the SHA-256 of the token the database names
// (nil when none), for SystemService's check on each call.
func (d *Daemon) operatorTokenSHA256(ctx context.Context) ([]byte, error) {
	v, err := d.db.Meta(ctx, metaOperatorToken)
	if err != nil || v == "" {
		return nil, err
	}
	return hex.DecodeString(v)
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// writeOperatorToken writes token to a new file at path (mode 0600),
// synced, so that the token the database names is never one no file holds.
func writeOperatorToken(path, token string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	_, err = fmt.Fprintln(f, token)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("operator token: %w", err)
	}
	return nil
}
