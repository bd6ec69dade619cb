package policy

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/stackauth-platform/infra/internal/plan"
)

// IAM type tokens.
const (
	iamRole = "aws:iam/role:Role"
)

// identityPolicies are the types carrying an identity policy in `policy`.
var identityPolicies = []string{
	"aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy",
	"aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy",
}

// policyAttachments attach a managed policy by `policyArn`.
var policyAttachments = []string{
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/userPolicyAttachment:UserPolicyAttachment",
	"aws:iam/groupPolicyAttachment:GroupPolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment",
}

// adminPolicies are AWS-managed policies that grant (nearly) everything.
var adminPolicies = []string{"policy/AdministratorAccess", "policy/PowerUserAccess", "policy/IAMFullAccess"}

var awsIAMRules = []Rule{
	{ID: "AWS-IAM-001", Description: "no identity policy allows `*` (or service:*) actions on `*` resources", Check: noWildcardPolicies},
	{ID: "AWS-IAM-002", Description: "no principal gets AdministratorAccess, PowerUserAccess or IAMFullAccess", Check: noAdminPolicies},
	{ID: "AWS-IAM-003", Description: "IRSA roles trust exactly one service account (StringEquals on :sub system:serviceaccount:<ns>:<sa> and :aud sts.amazonaws.com)", Check: irsaScoped},
	{ID: "AWS-IAM-004", Description: "trust policies are known and name their principals (no `*`)", Check: trustPrincipalsNamed},
}

// statement is one statement of a policy document; the fields IAM lets be a
// string or a list stay as decoded.
type statement struct {
	Effect      string
	Action      any
	NotAction   any
	Resource    any
	NotResource any
	Principal   any
	Condition   map[string]map[string]any
}

// policyDocument decodes the policy document in a resource input. A nil
// document means the input is unset; a non-nil finding means it could not be
// read.
func policyDocument(r *plan.Resource, input string, v any) ([]statement, *Finding) {
	if v == nil || v == "" {
		return nil, nil
	}
	if isUnknown(v) {
		f := unknown(r, input)
		return nil, &f
	}
	text, ok := v.(string)
	if !ok {
		f := at(r, "%s is %T, not a JSON policy document", input, v)
		return nil, &f
	}
	var doc struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		f := at(r, "%s is not valid JSON (%v); write it with components/iampolicy", input, err)
		return nil, &f
	}
	var list []statement
	if err := json.Unmarshal(doc.Statement, &list); err != nil {
		var one statement
		if err := json.Unmarshal(doc.Statement, &one); err != nil {
			f := at(r, "%s has a Statement that is neither an object nor a list: %v", input, err)
			return nil, &f
		}
		list = []statement{one}
	}
	return list, nil
}

// wildcardAction reports whether an action pattern covers every action of
// a service or of all services.
func wildcardAction(a string) bool { return a == "*" || strings.HasSuffix(a, ":*") }

func noWildcardPolicies(s *Stack) []Finding {
	var out []Finding
	check := func(r *plan.Resource, input string, v any) {
		statements, bad := policyDocument(r, input, v)
		if bad != nil {
			out = append(out, *bad)
			return
		}
		for i, st := range statements {
			if st.Effect != "Allow" {
				continue
			}
			var broad []string
			for _, a := range stringList(st.Action) {
				if wildcardAction(a) {
					broad = append(broad, a)
				}
			}
			if st.NotAction != nil {
				broad = append(broad, "NotAction")
			}
			anyResource := st.NotResource != nil
			for _, res := range stringList(st.Resource) {
				anyResource = anyResource || res == "*"
			}
			if len(broad) > 0 && anyResource {
				out = append(out, at(r, "%s statement %d allows %s on every resource; list the actions the workload calls and the ARNs it needs", input, i, strings.Join(broad, ", ")))
			}
		}
	}
	for _, r := range s.Of(identityPolicies...) {
		check(r, "policy", r.Inputs["policy"])
	}
	for _, r := range s.Of(iamRole) {
		for _, p := range list(r.Inputs["inlinePolicies"]) {
			check(r, "inlinePolicies."+str(get(p, "name")), get(p, "policy"))
		}
	}
	return out
}

func isAdminPolicy(arn string) bool {
	for _, p := range adminPolicies {
		if strings.HasPrefix(arn, "arn:") && strings.HasSuffix(arn, ":"+p) {
			return true
		}
	}
	return false
}

func noAdminPolicies(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(policyAttachments...) {
		if arn := str(r.Inputs["policyArn"]); isAdminPolicy(arn) {
			out = append(out, at(r, "attaches %s; grant a policy scoped to what the principal does", arn))
		}
	}
	for _, r := range s.Of(iamRole) {
		for _, arn := range stringList(r.Inputs["managedPolicyArns"]) {
			if isAdminPolicy(arn) {
				out = append(out, at(r, "managedPolicyArns has %s; grant a policy scoped to what the role does", arn))
			}
		}
	}
	return out
}

// serviceAccountSubject is the :sub of one Kubernetes service account.
var serviceAccountSubject = regexp.MustCompile(`^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?$`)

// webIdentity reports whether a trust statement admits an OIDC provider's
// tokens (IRSA), and returns the provider's issuer (host/path).
func webIdentity(st statement) (string, bool) {
	assumes := false
	for _, a := range stringList(st.Action) {
		assumes = assumes || a == "sts:AssumeRoleWithWebIdentity"
	}
	for _, fed := range stringList(get(st.Principal, "Federated")) {
		if i := strings.Index(fed, ":oidc-provider/"); assumes && i >= 0 {
			return fed[i+len(":oidc-provider/"):], true
		}
	}
	return "", false
}

func irsaScoped(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(iamRole) {
		statements, bad := policyDocument(r, "assumeRolePolicy", r.Inputs["assumeRolePolicy"])
		if bad != nil {
			continue // AWS-IAM-004 reports unreadable trust policies
		}
		for i, st := range statements {
			issuer, ok := webIdentity(st)
			if !ok || st.Effect != "Allow" {
				continue
			}
			equals := st.Condition["StringEquals"]
			sub, aud := stringList(equals[issuer+":sub"]), stringList(equals[issuer+":aud"])
			switch {
			case len(sub) != 1 || !serviceAccountSubject.MatchString(sub[0]):
				out = append(out, at(r, "trust statement %d does not pin one service account: StringEquals %s:sub is %v; require exactly \"system:serviceaccount:<namespace>:<name>\" (components/irsa)", i, issuer, orDefault(equals[issuer+":sub"], "missing")))
			case len(aud) != 1 || aud[0] != "sts.amazonaws.com":
				out = append(out, at(r, "trust statement %d does not require StringEquals %s:aud = sts.amazonaws.com, so tokens minted for other audiences are accepted; add it", i, issuer))
			}
			for op, conds := range st.Condition {
				if op == "StringEquals" {
					continue
				}
				for key := range conds {
					if strings.HasSuffix(key, ":sub") {
						out = append(out, at(r, "trust statement %d matches %s with %s, which admits more than one service account; use StringEquals with the exact subject", i, key, op))
					}
				}
			}
		}
	}
	return out
}

func trustPrincipalsNamed(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(iamRole) {
		statements, bad := policyDocument(r, "assumeRolePolicy", r.Inputs["assumeRolePolicy"])
		if bad != nil {
			out = append(out, *bad)
			continue
		}
		if statements == nil {
			out = append(out, at(r, "has no assumeRolePolicy; give it a trust policy naming who may assume it"))
		}
		for i, st := range statements {
			if st.Effect != "Allow" {
				continue
			}
			everyone := st.Principal == "*"
			for _, p := range stringList(get(st.Principal, "AWS")) {
				everyone = everyone || p == "*"
			}
			if everyone {
				out = append(out, at(r, "trust statement %d lets any AWS principal assume the role; name the account, role or service", i))
			}
		}
	}
	return out
}
