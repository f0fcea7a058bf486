package e2e

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"connectrpc.com/connect"
	_ "connectrpc.com/grpchealth" // registers the health messages (as connectext.grpc.health.v1)
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

var (
	healthOnce           sync.Once
	healthReq, healthRes protoreflect.MessageDescriptor
)

// checkHealth calls grpc.health.v1.Health/Check over Connect or gRPC and
// returns the serving status name. The health messages are built from the
// descriptors grpchealth registers, as a foreign client would.
func checkHealth(ctx context.Context, baseURL string, grpc bool) (string, error) {
	healthOnce.Do(func() {
		if d, err := protoregistry.GlobalFiles.FindDescriptorByName("connectext.grpc.health.v1.HealthCheckRequest"); err == nil {
			healthReq = d.(protoreflect.MessageDescriptor)
		}
		if d, err := protoregistry.GlobalFiles.FindDescriptorByName("connectext.grpc.health.v1.HealthCheckResponse"); err == nil {
			healthRes = d.(protoreflect.MessageDescriptor)
		}
	})
	if healthReq == nil || healthRes == nil {
		return "", errors.New("grpc.health.v1 descriptors are not registered")
	}
	client, opts := http.DefaultClient, []connect.ClientOption{
		connect.WithResponseInitializer(func(_ connect.Spec, m any) error {
			*(m.(*dynamicpb.Message)) = *dynamicpb.NewMessage(healthRes)
			return nil
		}),
	}
	if grpc {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		client = &http.Client{Transport: &http.Transport{Protocols: &p}}
		opts = append(opts, connect.WithGRPC())
	}
	c := connect.NewClient[dynamicpb.Message, dynamicpb.Message](client, baseURL+"/grpc.health.v1.Health/Check", opts...)
	res, err := c.CallUnary(ctx, connect.NewRequest(dynamicpb.NewMessage(healthReq)))
	if err != nil {
		return "", err
	}
	fd := healthRes.Fields().ByName("status")
	num := res.Msg.Get(fd).Enum()
	return string(fd.Enum().Values().ByNumber(num).Name()), nil
}
