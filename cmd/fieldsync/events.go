package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/internal/datadir"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func init() { commands["events"] = runEvents }

// runEvents follows the change and alert streams: fieldsync events tail.
func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "tail" {
		return fmt.Errorf("%w: fieldsync events tail [--nats-url URL | --data-dir DIR] [--stream changes|alerts] [--subject S] [--from-start] [--max N]", errUsage)
	}
	fs := newFlags("events tail", stderr)
	url := fs.String("nats-url", os.Getenv("FIELDSYNC_NATS_URL"), "NATS server URL (env FIELDSYNC_NATS_URL)")
	creds := fs.String("nats-creds", os.Getenv("FIELDSYNC_NATS_CREDS"), "NATS credentials file")
	dataDir := fs.String("data-dir", envOr("FIELDSYNC_DATA_DIR", datadir.Default), "fieldsyncd's data dir, to find its embedded NATS server")
	stream := fs.String("stream", "changes", "changes or alerts")
	subject := fs.String("subject", "", "only this subject (wildcards allowed), e.g. fieldsync.*.changes.Visit")
	fromStart := fs.Bool("from-start", false, "replay the stream from its first event")
	max := fs.Int("max", 0, "stop after this many events (0: follow until interrupted)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *url == "" {
		b, err := os.ReadFile(filepath.Join(*dataDir, datadir.NATSURLFile))
		if err != nil {
			return fmt.Errorf("no --nats-url, and no embedded server found in %s: %w", *dataDir, err)
		}
		*url = strings.TrimSpace(string(b))
	}
	connectCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, js, err := nats.Connect(connectCtx, nats.ConnConfig{URL: *url, CredsFile: *creds, Name: "fieldsync events tail"})
	if err != nil {
		return err
	}
	defer nc.Close()
	return tail(ctx, js, streamName(*stream), *subject, *fromStart, *max, stdout)
}

func streamName(s string) string {
	if s == "alerts" {
		return events.AlertsStream
	}
	return events.ChangesStream
}

// tail prints each event as one JSON line until ctx ends or max events.
func tail(ctx context.Context, js jetstream.JetStream, stream, subject string, fromStart bool, max int, w io.Writer) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	if fromStart {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	if subject != "" {
		cfg.FilterSubjects = []string{subject}
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("consumer on %s: %w", stream, err)
	}
	// Messages, not Next: Next is one pull request per event, and on a
	// NATS cluster a pull can find no responder for a moment (the
	// consumer's interest not yet known on every server, a stream leader
	// changing), which ended the tail early — 5 of 13 events. The
	// iterator pulls ahead and recreates the ordered consumer itself.
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consumer on %s: %w", stream, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for n := 0; max == 0 || n < max; n++ {
		msg, err := it.Next()
		if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(w, eventLine(msg.Subject(), msg.Data()))
	}
	return nil
}

// eventLine renders a ChangeEvent as compact JSON, or says it cannot.
func eventLine(subject string, data []byte) string {
	var ev fieldsyncv1.ChangeEvent
	if err := proto.Unmarshal(data, &ev); err != nil {
		return fmt.Sprintf(`{"subject":%q,"error":"undecodable event: %v"}`, subject, err)
	}
	b, err := protojson.MarshalOptions{Resolver: nil}.Marshal(&ev)
	if err != nil {
		return fmt.Sprintf(`{"subject":%q,"error":%q}`, subject, err.Error())
	}
	return string(b)
}
