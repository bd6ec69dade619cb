package policy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/stackauth-platform/infra/config"
	"github.com/stackauth-platform/infra/internal/plan"
)

// AWS type tokens the rules read.
const (
	rdsInstance          = "aws:rds/instance:Instance"
	rdsCluster           = "aws:rds/cluster:Cluster"
	rdsClusterInstance   = "aws:rds/clusterInstance:ClusterInstance"
	rdsParameterGroup    = "aws:rds/parameterGroup:ParameterGroup"
	rdsClusterParamGroup = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
	rdsSubnetGroup       = "aws:rds/subnetGroup:SubnetGroup"
	cacheGroup           = "aws:elasticache/replicationGroup:ReplicationGroup"
	cacheCluster         = "aws:elasticache/cluster:Cluster"
	cacheServerless      = "aws:elasticache/serverlessCache:ServerlessCache"
	cacheSubnetGroup     = "aws:elasticache/subnetGroup:SubnetGroup"
	launchTemplate       = "aws:ec2/launchTemplate:LaunchTemplate"
	ec2Instance          = "aws:ec2/instance:Instance"
	ebsVolume            = "aws:ebs/volume:Volume"
	eksCluster           = "aws:eks/cluster:Cluster"
	eksNodeGroup         = "aws:eks/nodeGroup:NodeGroup"
	secretsManagerSecret = "aws:secretsmanager/secret:Secret"
	kmsKey               = "aws:kms/key:Key"
	logGroup             = "aws:cloudwatch/logGroup:LogGroup"
	dynamoTable          = "aws:dynamodb/table:Table"
	efsFileSystem        = "aws:efs/fileSystem:FileSystem"
	s3Bucket             = "aws:s3/bucket:Bucket"
	s3BucketV2           = "aws:s3/bucketV2:BucketV2"
)

// ec2NodeClass is Karpenter's node template, a custom resource.
const ec2NodeClassKind = "EC2NodeClass"

// minBackupDays is the shortest backup retention a production store may keep.
const minBackupDays = 7

var awsDataRules = []Rule{
	{ID: "AWS-RDS-001", Description: "RDS storage is encrypted with a customer-managed KMS key", Check: rdsEncrypted},
	{ID: "AWS-RDS-002", Description: "RDS instances are not publicly accessible", Check: rdsNotPublic},
	{ID: "AWS-RDS-003", Description: "RDS refuses clients without TLS (rds.force_ssl / require_secure_transport in its parameter group)", Check: rdsForcesTLS},
	{ID: "AWS-RDS-004", Description: "production RDS has deletion protection and keeps a final snapshot", Check: productionOnly(rdsDeletionProtection)},
	{ID: "AWS-RDS-005", Description: "production RDS is Multi-AZ", Check: productionOnly(rdsMultiAZ)},
	{ID: "AWS-RDS-006", Description: "production RDS keeps automated backups for at least 7 days", Check: productionOnly(rdsBackups)},
	{ID: "AWS-EC-001", Description: "ElastiCache is encrypted at rest with a customer-managed KMS key", Check: cacheEncryptedAtRest},
	{ID: "AWS-EC-002", Description: "ElastiCache requires TLS in transit", Check: cacheEncryptedInTransit},
	{ID: "AWS-EC-003", Description: "ElastiCache requires authentication (AUTH token or RBAC user group)", Check: cacheAuthenticated},
	{ID: "AWS-EC-004", Description: "production ElastiCache is Multi-AZ with automatic failover", Check: productionOnly(cacheMultiAZ)},
	{ID: "AWS-EBS-001", Description: "node volumes are encrypted (launch templates, node groups, instances, EBS volumes, Karpenter EC2NodeClasses)", Check: nodeVolumesEncrypted},
	{ID: "AWS-EBS-002", Description: "StorageClasses of the EBS CSI driver create encrypted volumes", Check: storageClassesEncrypted},
	{ID: "AWS-EC2-001", Description: "nodes require IMDSv2 (httpTokens required) in launch templates and Karpenter EC2NodeClasses", Check: nodesRequireIMDSv2},
	{ID: "AWS-EC2-002", Description: "node metadata answers one hop only, so pods cannot take the node role", Check: nodesMetadataHopLimit},
	{ID: "AWS-EKS-001", Description: "EKS envelope-encrypts Kubernetes Secrets with a KMS key", Check: eksSecretsEncrypted},
	{ID: "AWS-EKS-002", Description: "the EKS API's public endpoint admits only the configured CIDRs, never the whole internet", Check: eksPublicAccessLimited},
	{ID: "AWS-EKS-003", Description: "EKS control plane logs api, audit and authenticator events", Check: eksControlPlaneLogs},
	{ID: "AWS-SM-001", Description: "Secrets Manager secrets are encrypted with a customer-managed KMS key", Check: secretsManagerKMS},
	{ID: "AWS-KMS-001", Description: "symmetric KMS keys rotate yearly", Check: kmsRotation},
	{ID: "AWS-LOG-001", Description: "CloudWatch log groups have a retention period", Check: logRetention},
	{ID: "AWS-PROD-001", Description: "production data stores (RDS, DynamoDB, EFS, S3) carry Pulumi protect", Check: productionOnly(productionProtected)},
}

// productionOnly runs a check in production stacks only.
func productionOnly(check func(*Stack) []Finding) func(*Stack) []Finding {
	return func(s *Stack) []Finding {
		if !s.Production() {
			return nil
		}
		return check(s)
	}
}

// standaloneRDS are RDS instances that are not members of an Aurora
// cluster: the cluster holds storage, backups and Multi-AZ for its members.
func (s *Stack) standaloneRDS() []*plan.Resource {
	var out []*plan.Resource
	for _, r := range s.Of(rdsInstance) {
		if r.Inputs["dbClusterIdentifier"] == nil && r.Inputs["replicateSourceDb"] == nil {
			out = append(out, r)
		}
	}
	return out
}

// kmsKeyed checks an encrypted-with-our-key pair of inputs.
func kmsKeyed(r *plan.Resource, enabledInput, keyInput, service string) []Finding {
	switch {
	case enabledInput != "" && isUnknown(r.Inputs[enabledInput]):
		return []Finding{unknown(r, enabledInput)}
	case enabledInput != "" && !truthy(r.Inputs[enabledInput]):
		return []Finding{at(r, "%s is not on, so the data is stored in clear; set %s: true and %s to a customer-managed key (components/awsbase.Key)", enabledInput, enabledInput, keyInput)}
	case r.Inputs[keyInput] == nil || r.Inputs[keyInput] == "":
		return []Finding{at(r, "no %s: the data is encrypted with the AWS-managed %s key, whose use cannot be limited or audited per stack; set %s to a customer-managed key (components/awsbase.Key)", keyInput, service, keyInput)}
	}
	return nil
}

func rdsEncrypted(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.standaloneRDS() {
		out = append(out, kmsKeyed(r, "storageEncrypted", "kmsKeyId", "aws/rds")...)
	}
	for _, r := range s.Of(rdsCluster) {
		out = append(out, kmsKeyed(r, "storageEncrypted", "kmsKeyId", "aws/rds")...)
	}
	return out
}

func rdsNotPublic(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(rdsInstance, rdsClusterInstance) {
		switch v := r.Inputs["publiclyAccessible"]; {
		case isUnknown(v):
			out = append(out, unknown(r, "publiclyAccessible"))
		case truthy(v):
			out = append(out, at(r, "publiclyAccessible is true, so the instance gets a public address; set publiclyAccessible: false and reach it from inside the VPC"))
		}
	}
	return out
}

// tlsParameter is the parameter that makes an engine refuse plain-text
// clients, and the values that turn it on.
func tlsParameter(engine string) (string, []string) {
	switch {
	case strings.HasPrefix(engine, "postgres"), strings.HasPrefix(engine, "aurora-postgresql"), strings.HasPrefix(engine, "sqlserver"):
		return "rds.force_ssl", []string{"1"}
	case strings.HasPrefix(engine, "mysql"), strings.HasPrefix(engine, "mariadb"), strings.HasPrefix(engine, "aurora-mysql"), engine == "aurora":
		return "require_secure_transport", []string{"1", "ON", "on"}
	}
	return "", nil
}

func rdsForcesTLS(s *Stack) []Finding {
	var out []Finding
	check := func(r *plan.Resource, groupInput, groupType string) {
		engine := str(r.Inputs["engine"])
		param, on := tlsParameter(engine)
		if param == "" {
			return
		}
		groups := s.From(r, groupInput, groupType)
		if len(groups) == 0 {
			what := "the default parameter group"
			if name := str(r.Inputs[groupInput]); name != "" {
				what = fmt.Sprintf("parameter group %q, which this stack does not define", name)
			}
			out = append(out, at(r, "uses %s, so whether it sets %s = %s cannot be verified; give it a parameter group of this stack that sets %s = %s", what, param, on[0], param, on[0]))
			return
		}
		for _, g := range groups {
			if !hasParameter(g, param, on) {
				out = append(out, at(r, "its parameter group %s does not set %s = %s, so clients may connect without TLS; add the parameter", g.Name, param, on[0]))
			}
		}
	}
	for _, r := range s.standaloneRDS() {
		check(r, "parameterGroupName", rdsParameterGroup)
	}
	for _, r := range s.Of(rdsCluster) {
		check(r, "dbClusterParameterGroupName", rdsClusterParamGroup)
	}
	return out
}

func hasParameter(group *plan.Resource, name string, values []string) bool {
	for _, p := range list(group.Inputs["parameters"]) {
		if str(get(p, "name")) != name {
			continue
		}
		for _, v := range values {
			if str(get(p, "value")) == v {
				return true
			}
		}
	}
	return false
}

func rdsDeletionProtection(s *Stack) []Finding {
	var out []Finding
	for _, r := range append(s.standaloneRDS(), s.Of(rdsCluster)...) {
		if !truthy(r.Inputs["deletionProtection"]) {
			out = append(out, at(r, "deletionProtection is off in a production stack; set deletionProtection: true (stackauth:dbDeletionProtection)"))
		}
		if truthy(r.Inputs["skipFinalSnapshot"]) {
			out = append(out, at(r, "skipFinalSnapshot is true in a production stack, so deleting it keeps no snapshot; set skipFinalSnapshot: false with a finalSnapshotIdentifier"))
		}
	}
	return out
}

func rdsMultiAZ(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.standaloneRDS() {
		if !truthy(r.Inputs["multiAz"]) {
			out = append(out, at(r, "multiAz is off in a production stack, so losing one zone loses the database; set multiAz: true (stackauth:dbMultiAz)"))
		}
	}
	for _, c := range s.Of(rdsCluster) {
		members := 0
		for _, i := range s.Of(rdsClusterInstance) {
			for _, dep := range s.From(i, "clusterIdentifier", rdsCluster) {
				if dep == c {
					members++
				}
			}
		}
		if members < 2 {
			out = append(out, at(c, "the Aurora cluster has %d instance(s) in a production stack; add a second ClusterInstance so a failover has a target in another zone", members))
		}
	}
	return out
}

func rdsBackups(s *Stack) []Finding {
	var out []Finding
	for _, r := range append(s.standaloneRDS(), s.Of(rdsCluster)...) {
		v := r.Inputs["backupRetentionPeriod"]
		if isUnknown(v) {
			out = append(out, unknown(r, "backupRetentionPeriod"))
			continue
		}
		if days, ok := number(v); !ok || days < minBackupDays {
			out = append(out, at(r, "backupRetentionPeriod is %v in a production stack; keep at least %d days of backups (stackauth:dbBackupRetentionDays)", orUnset(v), minBackupDays))
		}
	}
	return out
}

func orUnset(v any) any {
	if v == nil {
		return "unset (AWS keeps 1 day)"
	}
	return v
}

func cacheEncryptedAtRest(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(cacheGroup) {
		out = append(out, kmsKeyed(r, "atRestEncryptionEnabled", "kmsKeyId", "aws/elasticache")...)
	}
	for _, r := range s.Of(cacheServerless) {
		out = append(out, kmsKeyed(r, "", "kmsKeyId", "aws/elasticache")...)
	}
	for _, r := range s.Of(cacheCluster) {
		if r.Inputs["replicationGroupId"] == nil {
			out = append(out, at(r, "a standalone cache cluster cannot be encrypted at rest; use a ReplicationGroup with atRestEncryptionEnabled and kmsKeyId"))
		}
	}
	return out
}

func cacheEncryptedInTransit(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(cacheGroup) {
		switch {
		case !truthy(r.Inputs["transitEncryptionEnabled"]):
			out = append(out, at(r, "transitEncryptionEnabled is off, so commands and the AUTH token cross the network in clear; set transitEncryptionEnabled: true"))
		case str(r.Inputs["transitEncryptionMode"]) == "preferred":
			out = append(out, at(r, "transitEncryptionMode is preferred, which still admits plain-text clients; set it to required"))
		}
	}
	for _, r := range s.Of(cacheCluster) {
		if r.Inputs["replicationGroupId"] == nil && !truthy(r.Inputs["transitEncryptionEnabled"]) {
			out = append(out, at(r, "transitEncryptionEnabled is off; set it to true (or use a ReplicationGroup)"))
		}
	}
	return out
}

func cacheAuthenticated(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(cacheGroup) {
		if r.Inputs["authToken"] == nil && len(list(r.Inputs["userGroupIds"])) == 0 {
			out = append(out, at(r, "no authToken and no userGroupIds, so anyone who reaches the port may run commands; set authToken from a RandomPassword (secret) or an RBAC user group"))
		}
	}
	for _, r := range s.Of(cacheServerless) {
		if r.Inputs["userGroupId"] == nil {
			out = append(out, at(r, "no userGroupId, so any client that reaches the endpoint is admitted; attach an RBAC user group"))
		}
	}
	return out
}

func cacheMultiAZ(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(cacheGroup) {
		nodes, _ := number(r.Inputs["numCacheClusters"])
		replicas, _ := number(r.Inputs["replicasPerNodeGroup"])
		switch {
		case nodes < 2 && replicas < 1:
			out = append(out, at(r, "one node in a production stack: nothing to fail over to; give it a replica (stackauth:cacheReplicasPerShard >= 1)"))
		case !truthy(r.Inputs["multiAzEnabled"]) || !truthy(r.Inputs["automaticFailoverEnabled"]):
			out = append(out, at(r, "multiAzEnabled or automaticFailoverEnabled is off in a production stack, so no replica in another zone takes over; set both to true"))
		}
	}
	return out
}

func nodeVolumesEncrypted(s *Stack) []Finding {
	var out []Finding
	for _, lt := range s.Of(launchTemplate) {
		var ebs int
		for i, m := range list(lt.Inputs["blockDeviceMappings"]) {
			e := get(m, "ebs")
			if e == nil {
				continue
			}
			ebs++
			if !truthy(get(e, "encrypted")) {
				out = append(out, at(lt, "blockDeviceMappings[%d] (%s) is not encrypted; set ebs.encrypted: \"true\" with the cluster's kmsKeyId", i, str(get(m, "deviceName"))))
			}
		}
		if ebs == 0 {
			out = append(out, at(lt, "no EBS block device mapping, so the root volume follows the AMI snapshot and is unencrypted unless the account encrypts by default; map the root device with ebs.encrypted: \"true\""))
		}
	}
	for _, ng := range s.Of(eksNodeGroup) {
		if get(ng.Inputs, "launchTemplate") == nil {
			out = append(out, at(ng, "no launch template, so node volumes get EKS's defaults (unencrypted unless the account encrypts by default) and cannot be verified; give it a launch template with encrypted volumes"))
		}
	}
	for _, v := range s.Of(ebsVolume) {
		if !truthy(v.Inputs["encrypted"]) {
			out = append(out, at(v, "encrypted is off; set encrypted: true with a kmsKeyId"))
		}
	}
	for _, i := range s.Of(ec2Instance) {
		if !truthy(get(i.Inputs, "rootBlockDevice", "encrypted")) {
			out = append(out, at(i, "the root volume is not encrypted; set rootBlockDevice.encrypted: true"))
		}
	}
	for _, o := range s.nodeClasses() {
		for i, m := range list(get(o.Body, "spec", "blockDeviceMappings")) {
			if e := get(m, "ebs"); e != nil && get(e, "encrypted") != true {
				out = append(out, o.finding("spec.blockDeviceMappings[%d].ebs.encrypted is not true; set it (Karpenter's own default mapping is encrypted)", i))
			}
		}
	}
	return out
}

func (s *Stack) nodeClasses() []*Object {
	var out []*Object
	for _, o := range s.Objects(ec2NodeClassKind) {
		if o.Group() == "karpenter.k8s.aws" {
			out = append(out, o)
		}
	}
	return out
}

// ebsProvisioners are the StorageClass provisioners that create EBS volumes.
var ebsProvisioners = map[string]bool{"ebs.csi.aws.com": true, "kubernetes.io/aws-ebs": true}

func storageClassesEncrypted(s *Stack) []Finding {
	var out []Finding
	for _, o := range s.Objects("StorageClass") {
		if !ebsProvisioners[str(o.Body["provisioner"])] {
			continue
		}
		if get(o.Body, "parameters", "encrypted") != "true" {
			out = append(out, o.finding("parameters.encrypted is not \"true\", so its volumes are stored in clear; set encrypted: \"true\" and kmsKeyId"))
		}
	}
	return out
}

func nodesRequireIMDSv2(s *Stack) []Finding {
	var out []Finding
	for _, lt := range s.Of(launchTemplate) {
		if v := get(lt.Inputs, "metadataOptions", "httpTokens"); v != "required" {
			out = append(out, at(lt, "metadataOptions.httpTokens is %v, so IMDSv1 answers unauthenticated requests (SSRF reaches the node role); set httpTokens: required", orDefault(v, "unset (optional)")))
		}
	}
	for _, ng := range s.Of(eksNodeGroup) {
		if get(ng.Inputs, "launchTemplate") == nil {
			out = append(out, at(ng, "no launch template, so its metadata options are EKS's defaults and cannot be verified; give it a launch template with httpTokens: required"))
		}
	}
	for _, i := range s.Of(ec2Instance) {
		if get(i.Inputs, "metadataOptions", "httpTokens") != "required" {
			out = append(out, at(i, "metadataOptions.httpTokens is not required; set it"))
		}
	}
	for _, o := range s.nodeClasses() {
		if v := get(o.Body, "spec", "metadataOptions", "httpTokens"); v != nil && v != "required" {
			out = append(out, o.finding("spec.metadataOptions.httpTokens is %v; set it to required (Karpenter's default) or leave metadataOptions out", v))
		}
	}
	return out
}

func nodesMetadataHopLimit(s *Stack) []Finding {
	var out []Finding
	for _, lt := range s.Of(launchTemplate) {
		if n, ok := number(get(lt.Inputs, "metadataOptions", "httpPutResponseHopLimit")); !ok || n != 1 {
			out = append(out, at(lt, "metadataOptions.httpPutResponseHopLimit is %v; set it to 1 so containers (one hop further) cannot fetch the node role's credentials and use IRSA instead", orDefault(get(lt.Inputs, "metadataOptions", "httpPutResponseHopLimit"), "unset (the AMI decides)")))
		}
	}
	for _, o := range s.nodeClasses() {
		if v := get(o.Body, "spec", "metadataOptions", "httpPutResponseHopLimit"); v != nil {
			if n, ok := number(v); !ok || n != 1 {
				out = append(out, o.finding("spec.metadataOptions.httpPutResponseHopLimit is %v; set it to 1 (Karpenter's default)", v))
			}
		}
	}
	return out
}

func orDefault(v any, unset string) any {
	if v == nil {
		return unset
	}
	return v
}

func eksSecretsEncrypted(s *Stack) []Finding {
	var out []Finding
	for _, c := range s.Of(eksCluster) {
		enc := c.Inputs["encryptionConfig"]
		covered := false
		for _, res := range stringList(get(enc, "resources")) {
			covered = covered || res == "secrets"
		}
		switch key := get(enc, "provider", "keyArn"); {
		case !covered:
			out = append(out, at(c, "encryptionConfig does not cover secrets, so Kubernetes Secrets sit in etcd with only AWS's disk encryption; set encryptionConfig {resources: [secrets], provider.keyArn: <KMS key>}"))
		case isUnknown(key):
			out = append(out, unknown(c, "encryptionConfig.provider.keyArn"))
		case str(key) == "":
			out = append(out, at(c, "encryptionConfig has no provider.keyArn; give it a customer-managed KMS key"))
		}
	}
	return out
}

// internet is every address.
var internet = map[string]bool{"0.0.0.0/0": true, "::/0": true}

func eksPublicAccessLimited(s *Stack) []Finding {
	var allowed []string
	configured, haveConfig := s.Plan.Config[config.FullKey("clusterPublicAccessCidrs")]
	if haveConfig {
		if err := json.Unmarshal([]byte(configured), &allowed); err != nil {
			haveConfig = false
		}
	}
	var out []Finding
	for _, c := range s.Of(eksCluster) {
		vpc := c.Inputs["vpcConfig"]
		if !truthy(get(vpc, "endpointPrivateAccess")) {
			out = append(out, at(c, "vpcConfig.endpointPrivateAccess is off, so nodes and pods reach the API over the internet; set it to true"))
		}
		// AWS opens the public endpoint unless told otherwise.
		if public := get(vpc, "endpointPublicAccess"); public != nil && !truthy(public) {
			continue
		}
		cidrs := stringList(get(vpc, "publicAccessCidrs"))
		if len(cidrs) == 0 {
			out = append(out, at(c, "the public endpoint is on with no publicAccessCidrs, which AWS reads as 0.0.0.0/0; list the admin CIDRs (stackauth:clusterPublicAccessCidrs) or set endpointPublicAccess: false"))
			continue
		}
		for _, cidr := range cidrs {
			switch {
			case internet[cidr] || config.WideCIDR(cidr):
				out = append(out, at(c, "publicAccessCidrs has %s, the whole internet; list only the admin and CI CIDRs (stackauth:clusterPublicAccessCidrs)", cidr))
			case haveConfig && !cidrWithin(cidr, allowed):
				out = append(out, at(c, "publicAccessCidrs has %s, which stackauth:clusterPublicAccessCidrs %v does not contain; configure it there or remove it", cidr, allowed))
			}
		}
	}
	return out
}

// cidrWithin reports whether cidr lies inside one of the blocks.
func cidrWithin(cidr string, blocks []string) bool {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return false
	}
	for _, b := range blocks {
		q, err := netip.ParsePrefix(b)
		if err == nil && q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// auditLogTypes are the control plane logs an incident needs.
var auditLogTypes = []string{"api", "audit", "authenticator"}

func eksControlPlaneLogs(s *Stack) []Finding {
	var out []Finding
	for _, c := range s.Of(eksCluster) {
		on := map[string]bool{}
		for _, t := range stringList(c.Inputs["enabledClusterLogTypes"]) {
			on[t] = true
		}
		var missing []string
		for _, t := range auditLogTypes {
			if !on[t] {
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			out = append(out, at(c, "enabledClusterLogTypes lacks %s, so who did what to the cluster is not recorded; enable %s", strings.Join(missing, ", "), strings.Join(auditLogTypes, ", ")))
		}
	}
	return out
}

func secretsManagerKMS(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(secretsManagerSecret) {
		if key := str(r.Inputs["kmsKeyId"]); key == "alias/aws/secretsmanager" {
			out = append(out, at(r, "kmsKeyId is the AWS-managed alias/aws/secretsmanager; use a customer-managed key (components/awsbase.Key)"))
			continue
		}
		out = append(out, kmsKeyed(r, "", "kmsKeyId", "aws/secretsmanager")...)
	}
	return out
}

func kmsRotation(s *Stack) []Finding {
	var out []Finding
	for _, k := range s.Of(kmsKey) {
		spec := str(k.Inputs["customerMasterKeySpec"])
		if spec == "" {
			spec = str(k.Inputs["keySpec"])
		}
		if spec != "" && spec != "SYMMETRIC_DEFAULT" {
			continue // AWS rotates only symmetric keys
		}
		if !truthy(k.Inputs["enableKeyRotation"]) {
			out = append(out, at(k, "enableKeyRotation is off; set enableKeyRotation: true so the key material is renewed every year"))
		}
	}
	return out
}

func logRetention(s *Stack) []Finding {
	var out []Finding
	for _, g := range s.Of(logGroup) {
		if days, ok := number(g.Inputs["retentionInDays"]); !ok || days <= 0 {
			out = append(out, at(g, "no retentionInDays, so logs are kept (and billed) forever; set a retention"))
		}
	}
	return out
}

// durableStores hold data that cannot be recreated.
var durableStores = []string{rdsInstance, rdsCluster, dynamoTable, efsFileSystem, s3Bucket, s3BucketV2}

func productionProtected(s *Stack) []Finding {
	var out []Finding
	for _, r := range s.Of(durableStores...) {
		if !r.Protect {
			out = append(out, at(r, "not protected in a production stack, so a `pulumi up` that drops it or a `destroy` deletes the data; pass pulumi.Protect(true)"))
		}
	}
	return out
}
