package plan

import (
	"context"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// The SDK's mock monitor reads inputs without keeping unknowns: in a preview it
// drops every computed input and fails outright on a secret whose value is
// still unknown (a kubeconfig built from a cluster not yet created). The plan
// needs both, so a wrapper sits in front of the mock monitor: it records each
// registration with unknowns kept, then hands the mock monitor a copy it can
// read (unknown secrets passed as plain unknowns, which it drops).
type recordingMonitor struct {
	pulumirpc.ResourceMonitorClient
	mocks *mocks
}

var keepAll = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true}

func (r *recordingMonitor) RegisterResource(ctx context.Context, in *pulumirpc.RegisterResourceRequest, opts ...grpc.CallOption) (*pulumirpc.RegisterResourceResponse, error) {
	if in.GetType() == string(resource.RootStackType) && in.GetParent() == "" {
		return r.ResourceMonitorClient.RegisterResource(ctx, in, opts...)
	}
	inputs, err := plugin.UnmarshalProperties(in.GetObject(), keepAll)
	if err != nil {
		return nil, fmt.Errorf("plan: reading inputs of %s %s: %w", in.GetType(), in.GetName(), err)
	}
	r.mocks.record(in, inputs)

	readable, err := plugin.MarshalProperties(unwrapUnknownSecrets(inputs), keepAll)
	if err != nil {
		return nil, err
	}
	forward := proto.Clone(in).(*pulumirpc.RegisterResourceRequest)
	forward.Object = readable
	return r.ResourceMonitorClient.RegisterResource(ctx, forward, opts...)
}

func unwrapUnknownSecrets(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		out[k] = unwrapValue(v)
	}
	return out
}

func unwrapValue(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		inner := unwrapValue(v.SecretValue().Element)
		if inner.ContainsUnknowns() {
			return inner
		}
		return resource.MakeSecret(inner)
	case v.IsObject():
		return resource.NewProperty(unwrapUnknownSecrets(v.ObjectValue()))
	case v.IsArray():
		var items []resource.PropertyValue
		for _, e := range v.ArrayValue() {
			items = append(items, unwrapValue(e))
		}
		return resource.NewProperty(items)
	}
	return v
}

// wrapMonitor installs the recording wrapper. The SDK keeps its hook for
// wrapping the monitor client unexported, so it is set by reflection; if a
// future SDK renames it, this fails loudly rather than planning wrongly.
func wrapMonitor(m *mocks) pulumi.RunOption {
	return func(info *pulumi.RunInfo) {
		field := reflect.ValueOf(info).Elem().FieldByName("wrapResourceMonitorClient")
		if !field.IsValid() {
			panic("plan: pulumi.RunInfo has no wrapResourceMonitorClient; the SDK changed, update internal/plan/monitor.go")
		}
		wrap := func(c pulumirpc.ResourceMonitorClient) pulumirpc.ResourceMonitorClient {
			return &recordingMonitor{ResourceMonitorClient: c, mocks: m}
		}
		reflect.NewAt(field.Type(), unsafe.Pointer(field.UnsafeAddr())).Elem().Set(reflect.ValueOf(wrap))
	}
}
