package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
)

// setupReset deletes the store (fieldsync.Reset) and says what it did.
func setupReset(fs *flag.FlagSet) fileRun {
	force := fs.Bool("force", false, "delete the store even though changes or photos have not reached the server")
	return func(ctx context.Context, db string, out io.Writer) error {
		if err := fieldsync.Reset(ctx, db, *force); err != nil {
			if errors.Is(err, fieldsync.ErrUnsynced) {
				return fmt.Errorf("%w\nrun fieldsync device sync with the store's own token first, or pass --force to drop them", err)
			}
			return err
		}
		return json.NewEncoder(out).Encode(map[string]any{"reset": db})
	}
}
