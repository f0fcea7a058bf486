package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// loadCounters count what the devices did, for the summary.
type loadCounters struct {
	customers, visits, surgeries, edits, photos  atomic.Int64
	syncs, watches, offlineSkips, offlinePeriods atomic.Int64
	rounds                                       atomic.Int64
}

// loadDevice is one enrolled device of the run.
type loadDevice struct {
	n        int
	id       string
	user     *loadUser
	c        *fieldsync.Client
	tr       *measuredTransport
	rng      *rand.Rand // used by the device's own goroutine only
	online   bool
	switchAt time.Time // when online flips
}

// surgeryPhotoSlots are the three staged photos of a surgery support.
var surgeryPhotoSlots = []string{"pre_op_photo", "intra_op_photo", "post_op_count_photo"}

var visitTags = []string{"first_contact", "price_negotiation", "technical_demo", "decision_maker_confirmed"}

// putCustomer records the hospital the user's devices visit.
func (d *loadDevice) putCustomer(ctx context.Context, l *loadRun) error {
	err := d.c.Put(ctx, d.user.customer, &fieldsyncv1.Customer{
		Name: fmt.Sprintf("load %s hospital %d", l.id, d.user.n), Kind: fieldsyncv1.CustomerKind_CUSTOMER_KIND_HOSPITAL, RegionId: l.region})
	if err == nil {
		l.count.customers.Add(1)
	}
	return err
}

// putVisit records a visit locally: a draft, or a submitted routine visit.
func (d *loadDevice) putVisit(ctx context.Context, l *loadRun) error {
	status := fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT
	if d.rng.IntN(2) == 0 {
		status = fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED
	}
	err := d.c.Put(ctx, d.c.NewID(), &fieldsyncv1.Visit{
		Status: status, CustomerId: d.user.customer, VisitTime: timestamppb.Now(), Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE,
		Notes: fmt.Sprintf("load visit by device %d", d.n), ActionTags: []string{visitTags[d.rng.IntN(len(visitTags))]}})
	if err == nil {
		l.count.visits.Add(1)
	}
	return err
}

// putSurgery records a surgery support with its three photos, submitted
// once they are attached (a draft without photos when --photos is 0).
func (d *loadDevice) putSurgery(ctx context.Context, l *loadRun) error {
	id := d.c.NewID()
	err := d.c.Put(ctx, id, &fieldsyncv1.SurgerySupport{
		Status: fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT, HospitalId: d.user.customer, SurgeryTime: timestamppb.Now(),
		ConsumableModels: []string{"XK-200 bone screw"}, UsageFeedback: "load test"})
	if err != nil {
		return err
	}
	l.count.surgeries.Add(1)
	if l.cfg.photoSize == 0 {
		return nil
	}
	for _, slot := range surgeryPhotoSlots {
		if _, err := d.c.AddPhoto(ctx, "fieldsync.v1.SurgerySupport", id, slot, bytes.NewReader(d.photo(l.cfg.photoSize))); err != nil {
			return err
		}
		l.count.photos.Add(1)
	}
	return d.c.Put(ctx, id, &fieldsyncv1.SurgerySupport{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED}, "status")
}

// photo returns size bytes that the server takes for a JPEG: start of
// image, a JFIF segment, start of scan, random bytes (so that every photo
// is new) and end of image.
func (d *loadDevice) photo(size int64) []byte {
	head := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xDA}
	b := make([]byte, max(size, int64(len(head))+2))
	for i := len(head); i+8 <= len(b); i += 8 {
		v := d.rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	copy(b, head)
	b[len(b)-2], b[len(b)-1] = 0xFF, 0xD9
	return b
}

// editVisit edits a visit of the user's (this device's or another of the
// user's devices'), or records one when there is none yet.
func (d *loadDevice) editVisit(ctx context.Context, l *loadRun) error {
	list, err := d.c.List(ctx, "fieldsync.v1.Visit")
	if err != nil || len(list) == 0 {
		return errors.Join(err, d.putVisit(ctx, l))
	}
	r := list[d.rng.IntN(len(list))]
	err = d.c.Put(ctx, r.ID, &fieldsyncv1.Visit{
		Notes: fmt.Sprintf("edited by device %d at %s", d.n, time.Now().Format(time.RFC3339Nano)), ActionTags: []string{visitTags[d.rng.IntN(len(visitTags))]}},
		"notes", "action_tags")
	if err == nil {
		l.count.edits.Add(1)
	}
	return err
}

// startOffline places the device in its first online or offline period.
func (d *loadDevice) startOffline(cfg *loadConfig, now time.Time) {
	d.online = d.rng.Float64() >= cfg.offline
	d.switchAt = now.Add(time.Duration(d.rng.Float64() * float64(d.period(cfg))))
}

// period draws the length of the device's current online or offline
// period: a mean of --offline-period offline and, online, the time that
// leaves the device offline for the --offline share; ±50%.
func (d *loadDevice) period(cfg *loadConfig) time.Duration {
	mean := float64(cfg.offlinePeriod)
	if d.online {
		mean = mean * (1 - cfg.offline) / cfg.offline
	}
	return time.Duration(mean * (0.5 + d.rng.Float64()))
}

// updateOnline flips the device online or offline when its period ended.
func (d *loadDevice) updateOnline(l *loadRun, now time.Time) {
	if l.cfg.offline == 0 {
		d.online = true
		return
	}
	for !now.Before(d.switchAt) {
		d.online = !d.online
		if !d.online {
			l.count.offlinePeriods.Add(1)
		}
		d.switchAt = d.switchAt.Add(d.period(l.cfg))
	}
}

// drive runs the device's actions until runCtx ends; each action runs
// on opCtx, so that one under way at the end completes.
func (d *loadDevice) drive(runCtx, opCtx context.Context, l *loadRun) {
	if l.cfg.offline > 0 {
		d.startOffline(l.cfg, time.Now())
	}
	for {
		pause := time.Duration(d.rng.ExpFloat64() * float64(l.cfg.think))
		if sleepCtx(runCtx, pause) != nil {
			return
		}
		d.updateOnline(l, time.Now())
		act := l.cfg.mix.pick(d.rng)
		if act == actWatch {
			d.watch(runCtx, l)
			continue
		}
		if !l.acquire(runCtx) {
			return
		}
		start := time.Now()
		err := d.act(opCtx, l, act)
		l.release()
		l.stats.Load().op(act, time.Since(start), err)
	}
}

// act makes one action: a local write, then a sync when online.
func (d *loadDevice) act(ctx context.Context, l *loadRun, act string) error {
	var err error
	switch act {
	case actVisit:
		err = d.putVisit(ctx, l)
	case actSurgery:
		err = d.putSurgery(ctx, l)
	case actEdit:
		err = d.editVisit(ctx, l)
	}
	if err != nil {
		return err
	}
	if !d.online {
		if act == actPull {
			l.count.offlineSkips.Add(1)
		}
		return nil
	}
	l.count.syncs.Add(1)
	return d.c.Sync(ctx)
}

// watch keeps a Watch stream open for --watch-for, or until the device
// goes offline or the run ends; offline, it only waits.
func (d *loadDevice) watch(runCtx context.Context, l *loadRun) {
	until := time.Now().Add(l.cfg.watchFor)
	if l.cfg.offline > 0 && d.switchAt.Before(until) {
		until = d.switchAt
	}
	ctx, cancel := context.WithCancel(runCtx) // Canceled, not DeadlineExceeded: the transport leaves it out
	defer time.AfterFunc(time.Until(until), cancel).Stop()
	defer cancel()
	if !d.online {
		<-ctx.Done()
		l.count.offlineSkips.Add(1)
		return
	}
	l.count.watches.Add(1)
	start := time.Now()
	err := d.c.Watch(ctx)
	l.stats.Load().op(actWatch, time.Since(start), err)
}

// acquire takes a --concurrency slot; false when ctx ended first.
func (l *loadRun) acquire(ctx context.Context) bool {
	if l.sem == nil {
		return true
	}
	select {
	case l.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (l *loadRun) release() {
	if l.sem != nil {
		<-l.sem
	}
}
