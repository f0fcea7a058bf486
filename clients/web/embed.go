// Package web holds the built web app (clients/web/dist, made by `make web`)
// for fieldsyncd to serve. A fresh clone has only dist/.gitkeep: the server
// then answers / with a page saying how to build the app.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the built app's files, index.html at the root.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path: fs.Sub cannot fail
	}
	return sub
}
