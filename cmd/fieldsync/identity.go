package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("fieldsync "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		hideSecretDefaults(fs)
		fmt.Fprintf(stderr, "Usage of %s:\n", fs.Name())
		fs.PrintDefaults()
	}
	return fs
}

func runEnroll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c conn
	fs := newFlags("enroll", stderr)
	c.register(fs)
	code := fs.String("code", "", "one-time enrollment code from an admin (required)")
	host, _ := os.Hostname()
	name := fs.String("name", host, "device name")
	platform := fs.String("platform", "cli", "device platform")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *code == "" {
		return fmt.Errorf("%w: fieldsync enroll --code <code> [--name <device>]", errUsage)
	}
	res, err := c.identity().Enroll(ctx, connect.NewRequest(&fieldsyncv1.EnrollRequest{
		EnrollmentCode: *code, DeviceName: *name, Platform: *platform,
	}))
	if err != nil {
		return err
	}
	return printJSON(stdout, res.Msg)
}

func runWhoAmI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c conn
	fs := newFlags("whoami", stderr)
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.needToken(); err != nil {
		return err
	}
	res, err := c.identity().WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
	if err != nil {
		return err
	}
	return printJSON(stdout, res.Msg)
}

// printJSON prints a message as indented protobuf JSON.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitUnpopulated: false}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
