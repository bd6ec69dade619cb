// Package credentials generates every credential the platform mints itself,
// as Pulumi random resources whose results are secrets in state, and composes
// the environment the Stack Auth image and the rate-limit gateway read.
package credentials

import (
	"fmt"
	"net/url"

	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Credentials is the component holding the generated values.
type Credentials struct {
	pulumi.ResourceState

	// ServerSecret signs every JWT (STACK_SERVER_SECRET): 32 random bytes,
	// base64url. Rotating it signs everybody out.
	ServerSecret pulumi.StringOutput
	// The internal project's keys must be stable across restarts and replicas,
	// or the dashboard breaks.
	PublishableClientKey pulumi.StringOutput
	SecretServerKey      pulumi.StringOutput
	SuperSecretAdminKey  pulumi.StringOutput
	DatabasePassword     pulumi.StringOutput
	// CacheAuthToken is alphanumeric, 64 characters: within ElastiCache's
	// 16-128 and safe in a rediss:// URL without escaping.
	CacheAuthToken pulumi.StringOutput
	CronSecret     pulumi.StringOutput
	// GatewayCallerSecret signs the tier headers of trusted callers (load
	// tests, internal services) for the rate-limit gateway.
	GatewayCallerSecret pulumi.StringOutput
	// GrafanaAdminPassword is Grafana's admin login; External Secrets syncs it
	// into the monitoring namespace only (components/monitoring).
	GrafanaAdminPassword pulumi.StringOutput
}

// NewCredentials creates the random values.
func NewCredentials(ctx *pulumi.Context, name string, opts ...pulumi.ResourceOption) (*Credentials, error) {
	c := &Credentials{}
	if err := ctx.RegisterComponentResource("stackauth:secrets:Credentials", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)

	serverSecret, err := random.NewRandomBytes(ctx, name+"-server-secret", &random.RandomBytesArgs{Length: pulumi.Int(32)}, parent)
	if err != nil {
		return nil, err
	}
	c.ServerSecret = pulumi.ToSecret(serverSecret.Base64.ApplyT(base64URL)).(pulumi.StringOutput)

	password := func(suffix, prefix string, length int) (pulumi.StringOutput, error) {
		p, err := random.NewRandomPassword(ctx, name+"-"+suffix, &random.RandomPasswordArgs{
			Length:   pulumi.Int(length),
			Special:  pulumi.Bool(false),
			MinUpper: pulumi.Int(4), MinLower: pulumi.Int(4), MinNumeric: pulumi.Int(4),
		}, parent)
		if err != nil {
			return pulumi.StringOutput{}, err
		}
		return pulumi.ToSecret(p.Result.ApplyT(func(v string) string { return prefix + v })).(pulumi.StringOutput), nil
	}
	for _, p := range []struct {
		dst            *pulumi.StringOutput
		suffix, prefix string
		length         int
	}{
		{&c.PublishableClientKey, "publishable-client-key", "pck_", 48},
		{&c.SecretServerKey, "secret-server-key", "ssk_", 48},
		{&c.SuperSecretAdminKey, "super-secret-admin-key", "sak_", 48},
		{&c.DatabasePassword, "db-password", "", 40},
		{&c.CacheAuthToken, "cache-auth-token", "", 64},
		{&c.CronSecret, "cron-secret", "", 48},
		{&c.GatewayCallerSecret, "gateway-caller-secret", "", 48},
		{&c.GrafanaAdminPassword, "grafana-admin-password", "", 32},
	} {
		if *p.dst, err = password(p.suffix, p.prefix, p.length); err != nil {
			return nil, err
		}
	}

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{}); err != nil {
		return nil, err
	}
	return c, nil
}

func base64URL(std string) string {
	out := make([]byte, 0, len(std))
	for i := 0; i < len(std); i++ {
		switch b := std[i]; b {
		case '+':
			out = append(out, '-')
		case '/':
			out = append(out, '_')
		case '=':
		default:
			out = append(out, b)
		}
	}
	return string(out)
}

// Endpoints locate the data stores the environment points at.
type Endpoints struct {
	// DatabaseHost is where the pods connect (RDS Proxy when there is one);
	// DirectDatabaseHost, when set, is the instance itself, for
	// STACK_DIRECT_DATABASE_CONNECTION_STRING.
	DatabaseHost       pulumi.StringInput
	DirectDatabaseHost pulumi.StringInput
	DatabasePort       int
	DatabaseUser       string
	DatabaseName       string
	// DatabaseParams are appended to the connection string (sslmode, pool size).
	DatabaseParams url.Values
	CacheHost      pulumi.StringInput
	CachePort      int
	// CacheTLS selects rediss:// (ElastiCache requires it) over redis://.
	CacheTLS bool
}

// Environment is the secret half of the workloads' environment, keyed by the
// variable names the Stack Auth image and the gateway read; extra holds the
// third-party secrets from stack config under their image names.
func (c *Credentials) Environment(e Endpoints, extra map[string]pulumi.StringOutput) map[string]pulumi.StringOutput {
	postgres := func(host pulumi.StringInput) pulumi.StringOutput {
		return pulumi.All(host, c.DatabasePassword).ApplyT(func(v []any) string {
			return databaseURL(e, v[0].(string), v[1].(string))
		}).(pulumi.StringOutput)
	}
	database := postgres(e.DatabaseHost)
	direct := database
	if e.DirectDatabaseHost != nil {
		direct = postgres(e.DirectDatabaseHost)
	}
	scheme := "redis"
	if e.CacheTLS {
		scheme = "rediss"
	}
	redis := pulumi.All(e.CacheHost, c.CacheAuthToken).ApplyT(func(v []any) string {
		u := url.URL{Scheme: scheme, User: url.UserPassword("", v[1].(string)), Host: fmt.Sprintf("%s:%d", v[0].(string), e.CachePort)}
		return u.String()
	}).(pulumi.StringOutput)

	env := map[string]pulumi.StringOutput{
		"STACK_DATABASE_CONNECTION_STRING":                   secret(database),
		"STACK_DIRECT_DATABASE_CONNECTION_STRING":            secret(direct),
		"STACK_SERVER_SECRET":                                c.ServerSecret,
		"STACK_SEED_INTERNAL_PROJECT_PUBLISHABLE_CLIENT_KEY": c.PublishableClientKey,
		"STACK_SEED_INTERNAL_PROJECT_SECRET_SERVER_KEY":      c.SecretServerKey,
		"STACK_SEED_INTERNAL_PROJECT_SUPER_SECRET_ADMIN_KEY": c.SuperSecretAdminKey,
		"CRON_SECRET":                      c.CronSecret,
		"REDIS_URL":                        secret(redis),
		"RATE_LIMIT_TRUSTED_CALLER_SECRET": c.GatewayCallerSecret,
		"GRAFANA_ADMIN_PASSWORD":           c.GrafanaAdminPassword,
	}
	for k, v := range extra {
		env[k] = secret(v)
	}
	return env
}

// databaseURL is the postgresql:// connection string of the endpoints at host.
func databaseURL(e Endpoints, host, password string) string {
	u := url.URL{
		Scheme:   "postgresql",
		User:     url.UserPassword(e.DatabaseUser, password),
		Host:     fmt.Sprintf("%s:%d", host, e.DatabasePort),
		Path:     "/" + e.DatabaseName,
		RawQuery: e.DatabaseParams.Encode(),
	}
	return u.String()
}

func secret(o pulumi.StringOutput) pulumi.StringOutput {
	return pulumi.ToSecret(o).(pulumi.StringOutput)
}
