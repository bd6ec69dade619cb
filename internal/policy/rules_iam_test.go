package policy

import "strings"

const (
	issuer    = "oidc.eks.us-east-1.amazonaws.com/id/ABC"
	oidcARN   = "arn:aws:iam::123456789012:oidc-provider/" + issuer
	irsaTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity",
		"Principal":{"Federated":"` + oidcARN + `"},
		"Condition":{"StringEquals":{"` + issuer + `:sub":"system:serviceaccount:kube-system:aws-node","` + issuer + `:aud":"sts.amazonaws.com"}}}]}`
	serviceTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"Service":"ec2.amazonaws.com"}}]}`
)

// policyInput quotes a policy document as the JSON string input it is.
func policyInput(doc string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", " ", "\t", " ").Replace(doc)
}

func rolePolicy(b *builder, name, doc string) {
	b.add("aws:iam/rolePolicy:RolePolicy", name, `{"policy":"`+policyInput(doc)+`"}`)
}

func role(b *builder, name, trust string) {
	b.add(iamRole, name, `{"assumeRolePolicy":"`+policyInput(trust)+`"}`)
}

var _ = register(
	// AWS-IAM-001
	ruleCase{"AWS-IAM-001", "scoped actions, wildcard reads of one bucket, Describe on everything", func(b *builder) {
		rolePolicy(b, "app", `{"Statement":[{"Effect":"Allow","Action":["kms:Decrypt"],"Resource":["`+keyARN+`"]}]}`)
		rolePolicy(b, "bucket", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}}`)
		rolePolicy(b, "describe", `{"Statement":[{"Effect":"Allow","Action":["ec2:Describe*"],"Resource":"*"}]}`)
		rolePolicy(b, "deny", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`)
	}, false},
	ruleCase{"AWS-IAM-001", "everything on everything", func(b *builder) {
		rolePolicy(b, "admin", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	}, true},
	ruleCase{"AWS-IAM-001", "a whole service on everything", func(b *builder) {
		b.add("aws:iam/policy:Policy", "s3", `{"policy":"`+policyInput(`{"Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:*"],"Resource":["*"]}]}`)+`"}`)
	}, true},
	ruleCase{"AWS-IAM-001", "NotAction on everything", func(b *builder) {
		rolePolicy(b, "notaction", `{"Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}`)
	}, true},
	ruleCase{"AWS-IAM-001", "inline policy of a role", func(b *builder) {
		b.add(iamRole, "r", `{"assumeRolePolicy":"`+policyInput(serviceTrust)+`","inlinePolicies":[{"name":"all","policy":"`+policyInput(`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)+`"}]}`)
	}, true},
	ruleCase{"AWS-IAM-001", "policy unknown in a preview", func(b *builder) {
		b.add("aws:iam/rolePolicy:RolePolicy", "app", `{"policy":"[unknown]"}`)
	}, true},
	ruleCase{"AWS-IAM-001", "policy that is not JSON", func(b *builder) {
		b.add("aws:iam/rolePolicy:RolePolicy", "app", `{"policy":"Statement: none"}`)
	}, true},
	// AWS-IAM-002
	ruleCase{"AWS-IAM-002", "scoped managed policies", func(b *builder) {
		b.add("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "cni", `{"policyArn":"arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"}`)
	}, false},
	ruleCase{"AWS-IAM-002", "administrator", func(b *builder) {
		b.add("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "admin", `{"policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}`)
	}, true},
	ruleCase{"AWS-IAM-002", "power user in managedPolicyArns", func(b *builder) {
		b.add(iamRole, "r", `{"managedPolicyArns":["arn:aws:iam::aws:policy/PowerUserAccess"]}`)
	}, true},
	// AWS-IAM-003
	ruleCase{"AWS-IAM-003", "one service account, and a service role", func(b *builder) {
		role(b, "cni", irsaTrust)
		role(b, "nodes", serviceTrust)
	}, false},
	ruleCase{"AWS-IAM-003", "wildcard service account", func(b *builder) {
		role(b, "cni", strings.Replace(irsaTrust, "kube-system:aws-node", "kube-system:*", 1))
	}, true},
	ruleCase{"AWS-IAM-003", "StringLike subject", func(b *builder) {
		role(b, "cni", strings.Replace(irsaTrust, `"StringEquals":{"`+issuer+`:sub":"system:serviceaccount:kube-system:aws-node",`,
			`"StringLike":{"`+issuer+`:sub":"system:serviceaccount:kube-system:*"},"StringEquals":{`, 1))
	}, true},
	ruleCase{"AWS-IAM-003", "no audience", func(b *builder) {
		role(b, "cni", strings.Replace(irsaTrust, `,"`+issuer+`:aud":"sts.amazonaws.com"`, ``, 1))
	}, true},
	ruleCase{"AWS-IAM-003", "no condition at all", func(b *builder) {
		role(b, "cni", `{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity","Principal":{"Federated":"`+oidcARN+`"}}]}`)
	}, true},
	// AWS-IAM-004
	ruleCase{"AWS-IAM-004", "named principals", func(b *builder) {
		role(b, "nodes", serviceTrust)
		role(b, "cni", irsaTrust)
	}, false},
	ruleCase{"AWS-IAM-004", "anyone", func(b *builder) {
		role(b, "open", `{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":"*"}]}`)
	}, true},
	ruleCase{"AWS-IAM-004", "any AWS principal", func(b *builder) {
		role(b, "open", `{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":["arn:aws:iam::123456789012:root","*"]}}]}`)
	}, true},
	ruleCase{"AWS-IAM-004", "trust policy unknown", func(b *builder) { b.add(iamRole, "r", `{"assumeRolePolicy":"[unknown]"}`) }, true},
)
