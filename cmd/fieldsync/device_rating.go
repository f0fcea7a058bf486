package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"rsc.io/qr"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// The customer-rating subcommand (R10), added to deviceCommands here.
func init() {
	deviceCommands["quote rating-link"] = deviceCommand{"print a customer's rating link for a quote, with its QR code: --quote <id> [--ttl 168h] [--qr=false] [--invert]", setupRatingLink}
}

func setupRatingLink(fs *flag.FlagSet) deviceRun {
	quote := fs.String("quote", "", "quote record id")
	ttl := fs.Duration("ttl", 0, "how long the link stays valid, 1m to 720h (default: the server's, 7 days)")
	showQR := fs.Bool("qr", true, "print the link as a QR code too")
	invert := fs.Bool("invert", false, "draw the QR code for a terminal with a light background")
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if *quote == "" || len(args) != 0 {
			return fmt.Errorf("%w: fieldsync device quote rating-link --quote <id>", errUsage)
		}
		// The server issues links for quotes it has: send a quote made offline first.
		if err := c.Sync(ctx); err != nil {
			return fmt.Errorf("sync before the rating link: %w", err)
		}
		cn := conn{server: fs.Lookup("server").Value.String(), token: fs.Lookup("token").Value.String(), grpc: fs.Lookup("grpc").Value.String() == "true"}
		req := &fieldsyncv1.CreateRatingLinkRequest{QuoteId: *quote}
		if *ttl != 0 {
			req.Ttl = durationpb.New(*ttl)
		}
		res, err := fieldsyncv1connect.NewRatingServiceClient(httpClient(cn.grpc), cn.baseURL(), cn.options()...).
			CreateRatingLink(ctx, connect.NewRequest(req))
		if err != nil {
			return err
		}
		link := cn.baseURL() + res.Msg.GetPath()
		fmt.Fprintf(out, "%s\nexpires %s\n", link, res.Msg.GetExpireTime().AsTime().Format(time.RFC3339))
		if !*showQR {
			return nil
		}
		return printQR(out, link, *invert)
	}
}

// printQR draws text as a QR code with half blocks, two modules a line,
// with the standard quiet zone of four modules. By default dark modules
// are left blank, for a terminal with a dark background.
func printQR(out io.Writer, text string, invert bool) error {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	const quiet = 4
	// ink reports whether the module is drawn as a block: a light one, or
	// with invert a dark one.
	ink := func(x, y int) bool {
		black := x >= 0 && y >= 0 && x < code.Size && y < code.Size && code.Black(x, y)
		return black == invert
	}
	var b strings.Builder
	for y := -quiet; y < code.Size+quiet; y += 2 {
		for x := -quiet; x < code.Size+quiet; x++ {
			top, bottom := ink(x, y), ink(x, y+1)
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	_, err = io.WriteString(out, b.String())
	return err
}
