package plan

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// account is the AWS account the mocks pretend to deploy into.
const account = "123456789012"

// ECRPassword is the password in the mock ECR authorization token (its user is AWS).
const ECRPassword = SecretMarker + "ecr-password"

// SecretMarker prefixes every value the mocks generate for random resources,
// so a test can search the plan for a generated secret that leaked in clear.
const SecretMarker = "GENERATED-SECRET-"

// withOutputs adds the outputs a provider would return after creating the
// resource, for the types whose outputs the program reads.
func withOutputs(typ, name, id, region string, inputs resource.PropertyMap) resource.PropertyMap {
	out := inputs.Copy()
	set := func(k string, v any) { out[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	service := strings.SplitN(strings.TrimPrefix(typ, "aws:"), "/", 2)[0]
	if strings.HasPrefix(typ, "aws:") {
		set("arn", fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s", service, region, account, typeName(typ), name))
	}
	switch typ {
	case "random:index/randomPassword:RandomPassword":
		out["result"] = resource.MakeSecret(resource.NewPropertyValue(SecretMarker + name))
	case "random:index/randomBytes:RandomBytes":
		out["base64"] = resource.MakeSecret(resource.NewPropertyValue(SecretMarker + name + "+/=="))
		out["hex"] = resource.MakeSecret(resource.NewPropertyValue(SecretMarker + name))
	case "aws:iam/role:Role":
		set("arn", fmt.Sprintf("arn:aws:iam::%s:role/%s", account, name))
		set("name", name)
	case "aws:iam/instanceProfile:InstanceProfile":
		set("arn", fmt.Sprintf("arn:aws:iam::%s:instance-profile/%s", account, name))
		set("name", name)
	case "aws:cloudwatch/eventRule:EventRule":
		set("name", name)
	case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
		set("arn", fmt.Sprintf("arn:aws:iam::%s:oidc-provider/oidc.eks.%s.amazonaws.com/id/MOCK", account, region))
	case "aws:kms/key:Key":
		set("keyId", name+"-key-id")
	case "aws:eks/cluster:Cluster":
		set("endpoint", "https://"+name+".eks.mock")
		set("certificateAuthority", map[string]any{"data": "bW9jay1jYQ=="})
		set("identities", []any{map[string]any{"oidcs": []any{map[string]any{
			"issuer": fmt.Sprintf("https://oidc.eks.%s.amazonaws.com/id/MOCK", region)}}}})
		vpc := map[string]any{"clusterSecurityGroupId": "sg-" + name + "-cluster"}
		if v, ok := inputs["vpcConfig"]; ok && v.IsObject() {
			for k, e := range v.ObjectValue() {
				vpc[string(k)] = e.V
			}
		}
		out["vpcConfig"] = resource.NewPropertyValue(vpc)
	case "aws:ec2/launchTemplate:LaunchTemplate":
		set("latestVersion", 1)
	case "aws:rds/instance:Instance":
		set("address", name+".mock.rds.amazonaws.com")
		set("endpoint", name+".mock.rds.amazonaws.com:5432")
		set("identifier", name)
	case "aws:rds/proxy:Proxy":
		set("endpoint", name+".proxy-mock.rds.amazonaws.com")
	case "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup":
		set("name", "default") // RDS gives every proxy's default target group this name
	case "aws:elasticache/replicationGroup:ReplicationGroup":
		set("primaryEndpointAddress", "master."+name+".mock.cache.amazonaws.com")
	case "aws:secretsmanager/secret:Secret":
		set("name", name)
	case "aws:ecr/repository:Repository":
		repo := name
		if v, ok := inputs["name"]; ok && v.IsString() {
			repo = v.StringValue()
		}
		set("repositoryUrl", fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", account, region, repo))
		set("registryId", account)
	case "aws:sqs/queue:Queue":
		set("url", fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", region, account, name))
	}
	return out
}

func typeName(typ string) string {
	parts := strings.Split(typ, ":")
	return strings.ToLower(parts[len(parts)-1])
}

// Call answers the invokes the program makes.
func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return resource.NewPropertyMapFromMap(map[string]any{
			"names":   []any{m.region + "a", m.region + "b", m.region + "c"},
			"zoneIds": []any{"use1-az1", "use1-az2", "use1-az4"},
		}), nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.NewPropertyMapFromMap(map[string]any{"accountId": account, "arn": "arn:aws:iam::" + account + ":role/ci"}), nil
	case "aws:index/getPartition:getPartition":
		return resource.NewPropertyMapFromMap(map[string]any{"partition": "aws", "dnsSuffix": "amazonaws.com"}), nil
	case "aws:index/getRegion:getRegion":
		return resource.NewPropertyMapFromMap(map[string]any{"name": m.region}), nil
	case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
		// The token is base64 of "AWS:<password>", as ECR gives it; both are secrets, as the provider marks them.
		token := base64.StdEncoding.EncodeToString([]byte("AWS:" + ECRPassword))
		return resource.PropertyMap{
			"authorizationToken": resource.MakeSecret(resource.NewPropertyValue(token)),
			"password":           resource.MakeSecret(resource.NewPropertyValue(ECRPassword)),
			"userName":           resource.NewPropertyValue("AWS"),
			"proxyEndpoint":      resource.NewPropertyValue(fmt.Sprintf("https://%s.dkr.ecr.%s.amazonaws.com", account, m.region)),
			"expiresAt":          resource.NewPropertyValue("2026-12-31T23:59:59Z"),
			"id":                 resource.NewPropertyValue(m.region),
		}, nil
	}
	return nil, fmt.Errorf("offline plan: no mock answer for invoke %s; add one in internal/plan/outputs.go", args.Token)
}
