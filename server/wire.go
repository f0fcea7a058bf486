package server

import (
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Conversions from domain identity types to wire messages, in one place.

func regionToWire(r *syncengine.Region) *fieldsyncv1.Region {
	return &fieldsyncv1.Region{Id: r.ID, Name: r.Name}
}

func storeToWire(s *syncengine.Shop) *fieldsyncv1.Store {
	return &fieldsyncv1.Store{Id: s.ID, Name: s.Name, RegionId: s.RegionID}
}

func userToWire(u *syncengine.User) *fieldsyncv1.User {
	return &fieldsyncv1.User{
		Id: u.ID, DisplayName: u.DisplayName, Role: u.Role,
		RegionId: u.RegionID, StoreId: u.StoreID, CreateTime: timestamp(u.CreatedAt),
	}
}

func deviceToWire(d *syncengine.Device) *fieldsyncv1.Device {
	w := &fieldsyncv1.Device{
		Id: d.ID, UserId: d.UserID, UserName: d.UserName, Name: d.Name, Platform: d.Platform,
		EnrollTime: timestamp(d.EnrolledAt), RevokeTime: timestamp(d.RevokedAt), LastSeenTime: timestamp(d.LastSeenAt),
	}
	statusToWire(d.Status, w)
	return w
}

func apiKeyToWire(k *syncengine.APIKey) *fieldsyncv1.ApiKey {
	return &fieldsyncv1.ApiKey{
		Id: k.ID, Name: k.Name, Permissions: k.Permissions,
		CreateTime: timestamp(k.CreatedAt), RevokeTime: timestamp(k.RevokedAt),
	}
}
