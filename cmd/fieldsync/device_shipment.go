package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
)

// The sample-shipment subcommands (B3), added to deviceCommands here.
func init() {
	deviceCommands["shipment create"] = deviceCommand{"draft a sample shipment pre-filled from a customer, offline: --customer <id>", setupShipmentCreate}
	deviceCommands["shipment request"] = deviceCommand{"request a drafted sample shipment (needs an address and items): <id>", setupShipmentRequest}
}

const sampleShipmentType = "fieldsync.v1.SampleShipment"

func setupShipmentCreate(fs *flag.FlagSet) deviceRun {
	customer := fs.String("customer", "", "customer record id")
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if *customer == "" || len(args) != 0 {
			return fmt.Errorf("%w: fieldsync device shipment create --customer <id>", errUsage)
		}
		id, _, err := c.DraftShipment(ctx, *customer)
		if err != nil {
			return err
		}
		return printRecord(ctx, c, out, sampleShipmentType, id)
	}
}

func setupShipmentRequest(fs *flag.FlagSet) deviceRun {
	return func(ctx context.Context, c *fieldsync.Client, args []string, out io.Writer) error {
		if len(args) != 1 {
			return fmt.Errorf("%w: fieldsync device shipment request <id>", errUsage)
		}
		if err := c.RequestShipment(ctx, args[0]); err != nil {
			return err
		}
		return printRecord(ctx, c, out, sampleShipmentType, args[0])
	}
}
