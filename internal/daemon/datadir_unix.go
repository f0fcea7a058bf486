//go:build unix

package daemon

import "syscall"

// restrictUmask makes every file this process creates from now on (SQLite,
// NATS storage, photos, uploads) readable by the owner only.
func restrictUmask() { syscall.Umask(0o077) }
