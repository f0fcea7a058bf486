package insights

import (
	"bytes"

	"github.com/fieldsync/fieldsync/insights/insightstore"
)

// cachedConfig is a tenant's configuration as last parsed, with the
// stored bytes it was parsed from.
type cachedConfig struct {
	raw []byte
	cfg Config
}

// config returns a tenant's configuration inside tx. The stored JSON is
// read each time (one indexed row, so a change by SetInsightsConfig, in
// this process or another, applies to the next transaction), but parsed
// and validated only when it differs from what was parsed last.
func (c *Consumer) config(tx insightstore.Tx, tenantID string) (Config, error) {
	raw, err := tx.InsightsConfig(tenantID)
	if err != nil {
		return Config{}, err
	}
	c.configMu.Lock()
	cached, ok := c.configs[tenantID]
	c.configMu.Unlock()
	if ok && bytes.Equal(cached.raw, raw) {
		return cached.cfg, nil
	}
	cfg, err := parseStoredConfig(raw)
	if err != nil {
		return Config{}, err
	}
	c.configMu.Lock()
	defer c.configMu.Unlock()
	if c.configs == nil {
		c.configs = map[string]cachedConfig{}
	}
	c.configs[tenantID] = cachedConfig{raw: bytes.Clone(raw), cfg: cfg}
	return cfg, nil
}
