package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// printDevices prints `admin devices --table`: one line per device with
// its last contact and the sync status it last reported. Ages are as of
// now; "-" marks what is unknown or none.
func printDevices(w io.Writer, m proto.Message, now time.Time) error {
	res, ok := m.(*fieldsyncv1.ListDevicesResponse)
	if !ok {
		return fmt.Errorf("devices: unexpected answer %T", m)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tUSER\tNAME\tLAST SEEN\tLAST SYNC\tOUTBOX\tOLDEST UNSYNCED\tPHOTOS WAITING\tAPP\tSDK\tREVOKED")
	for _, d := range res.GetDevices() {
		s := d.GetStatus()
		outbox, oldest, photos := "-", "-", "-"
		if s != nil {
			outbox, photos = fmt.Sprint(s.GetOutboxDepth()), fmt.Sprint(s.GetPhotosWaiting())
			oldest = ago(d.GetOldestUnsyncedTime(), now)
		}
		revoked := ""
		if d.GetRevokeTime() != nil {
			revoked = "revoked"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.GetId(), deviceUser(d), d.GetName(),
			ago(d.GetLastSeenTime(), now), ago(s.GetLastSyncTime(), now), outbox, oldest, photos,
			orDash(s.GetAppVersion()), orDash(s.GetSdkVersion()), revoked)
	}
	return tw.Flush()
}

// deviceUser names a device's user: "Li Wei (u1)", or the id alone when
// the server sent no name.
func deviceUser(d *fieldsyncv1.Device) string {
	if n := d.GetUserName(); n != "" {
		return n + " (" + d.GetUserId() + ")"
	}
	return d.GetUserId()
}

// ago says how long before now t was, to the minute ("2h5m ago"); "-"
// when t is unset.
func ago(t *timestamppb.Timestamp, now time.Time) string {
	if t == nil {
		return "-"
	}
	d := now.Sub(t.AsTime()).Truncate(time.Minute)
	if d < time.Minute {
		return "just now"
	}
	return fmt.Sprintf("%s ago", fmtAge(d))
}

// fmtAge prints a whole-minute duration as days, hours and minutes.
func fmtAge(d time.Duration) string {
	days, h, m := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	}
	return fmt.Sprintf("%dm", m)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
