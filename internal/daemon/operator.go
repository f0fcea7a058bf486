package daemon

import (
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

// OperatorTokenFile is where fieldsyncd keeps the operator token it
// generates when no --operator-token-file is given.
const OperatorTokenFile = datadir.OperatorTokenFile

// operatorToken returns the secret that guards SystemService: the content of
// cfg.OperatorTokenFile when set, else <data-dir>/operator-token, generated
// (mode 0600) at first start. It logs where the token is, never the token.
func (d *Daemon) operatorToken() (string, error) {
	path := d.cfg.OperatorTokenFile
	if path == "" {
		path = filepath.Join(d.cfg.DataDir, OperatorTokenFile)
		if err := createOperatorToken(path); err != nil {
			return "", err
		}
	}
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
	d.log.Info("operator token for SystemService (fieldsync tenant …)", "file", path)
	return token, nil
}

// createOperatorToken writes a new random token to path unless the file exists.
func createOperatorToken(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	_, err = fmt.Fprintln(f, ids.Token("fso"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("operator token: %w", err)
	}
	return nil
}
