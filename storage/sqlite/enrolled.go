package sqlite

import (
	"fmt"

	"github.com/fieldsync/fieldsync/insights/insightstore"
)

// EnrolledDevices returns the tenant's devices enrolled at or after
// sinceMS, revoked since or not, by enrolled time then device id, with
// their users, their codes' issuers and whether the user had a device
// before (devices_tenant_enrolled, devices_user).
func (t *InsightsTx) EnrolledDevices(tenantID string, sinceMS int64) ([]*insightstore.EnrolledDevice, error) {
	out, err := queryAll(t.ctx, t.tx, func(row rowScanner) (*insightstore.EnrolledDevice, error) {
		var d insightstore.EnrolledDevice
		return &d, row.Scan(&d.DeviceID, &d.DeviceName, &d.Platform, &d.EnrolledMS, &d.UserID, &d.UserName,
			&d.IssuerID, &d.IssuerName, &d.Prior)
	}, `SELECT d.id, d.name, d.platform, d.enrolled_at, u.id, u.display_name, d.enrolled_by, COALESCE(i.display_name, ''),
		EXISTS (SELECT 1 FROM devices p WHERE p.user_id = d.user_id
			AND (p.enrolled_at < d.enrolled_at OR (p.enrolled_at = d.enrolled_at AND p.id < d.id)))
		FROM devices d JOIN users u ON u.id = d.user_id LEFT JOIN users i ON i.id = d.enrolled_by AND i.tenant_id = d.tenant_id
		WHERE d.tenant_id = ? AND d.enrolled_at >= ?
		ORDER BY d.enrolled_at, d.id`, tenantID, sinceMS)
	if err != nil {
		return nil, fmt.Errorf("enrolled devices: %w", err)
	}
	return out, nil
}
