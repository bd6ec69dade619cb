package certmanager

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type fakeRelease struct{ pulumi.CustomResourceState }

func acmeArgs(production bool) Args {
	return Args{
		ACME: &ACME{Email: "platform@example.com", Production: production,
			Solver: GatewayListener{Gateway: "edge", Namespace: "stack-auth-prod", SectionName: "http"}},
		GatewayAPIRelease: &fakeRelease{},
	}.withDefaults()
}

func TestProductionUsesTheProductionIssuer(t *testing.T) {
	if got := IssuerFor(acmeArgs(true).ACME); got != LetsEncryptProd {
		t.Errorf("production issuer %s", got)
	}
	if got := IssuerFor(acmeArgs(false).ACME); got != LetsEncryptStaging {
		t.Errorf("non-production issuer %s", got)
	}
	if got := IssuerFor(nil); got != SelfSigned {
		t.Errorf("issuer without ACME %s", got)
	}
	specs := IssuerSpecs(acmeArgs(false))
	if len(specs) != 2 || specs[LetsEncryptProd] == nil || specs[LetsEncryptStaging] == nil {
		t.Errorf("ACME stacks get both Let's Encrypt issuers, got %v", specs)
	}
}

func TestSelfSignedIsTheSwitchForLocalClusters(t *testing.T) {
	a := Args{SelfSigned: true, GatewayAPIRelease: &fakeRelease{}}.withDefaults()
	if err := a.validate(); err != nil {
		t.Fatal(err)
	}
	specs := IssuerSpecs(a)
	if len(specs) != 1 || specs[SelfSigned] == nil {
		t.Errorf("self-signed stacks get only the self-signed issuer, got %v", specs)
	}
}

func TestArgsErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		args Args
		want string
	}{
		{Args{GatewayAPIRelease: &fakeRelease{}}, "exactly one of args.ACME"},
		{func() Args { a := acmeArgs(true); a.SelfSigned = true; return a }(), "exactly one of args.ACME"},
		{func() Args { a := acmeArgs(true); a.ACME.Email = "Platform <p@example.com>"; return a }(), "args.ACME.Email"},
		{func() Args { a := acmeArgs(true); a.ACME.Solver.SectionName = ""; return a }(), "args.ACME.Solver.SectionName"},
		{func() Args { a := acmeArgs(true); a.GatewayAPIRelease = nil; return a }(), "args.GatewayAPIRelease"},
	} {
		if err := tc.args.withDefaults().validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error naming %s", err, tc.want)
		}
	}
}
