package sqlite

import (
	"database/sql"
	"errors"

	"github.com/fieldsync/fieldsync/syncengine"
)

// UserPlace returns a user's store and region (see syncengine.Tx).
func (t *recTx) UserPlace(tenantID, userID string) (syncengine.Scope, bool, error) {
	sc := syncengine.Scope{Owner: userID}
	err := t.queryRow(`SELECT store_id, region_id FROM users WHERE id = ? AND tenant_id = ?`, userID, tenantID).Scan(&sc.Store, &sc.Region)
	if errors.Is(err, sql.ErrNoRows) {
		return syncengine.Scope{}, false, nil
	}
	return sc, err == nil, err
}

// StoreRegion returns the region of a store (see syncengine.Tx).
func (t *recTx) StoreRegion(tenantID, storeID string) (string, bool, error) {
	var region string
	err := t.queryRow(`SELECT region_id FROM stores WHERE id = ? AND tenant_id = ?`, storeID, tenantID).Scan(&region)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return region, err == nil, err
}

// RegionExists reports whether the tenant has the region (see syncengine.Tx).
func (t *recTx) RegionExists(tenantID, regionID string) (bool, error) {
	var one int
	err := t.queryRow(`SELECT 1 FROM regions WHERE id = ? AND tenant_id = ?`, regionID, tenantID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
