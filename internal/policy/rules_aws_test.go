package policy

import "strings"

const keyARN = "arn:aws:kms:us-east-1:123456789012:key/k"

var _ = register(
	// AWS-RDS-001
	ruleCase{"AWS-RDS-001", "encrypted with our key", func(b *builder) {
		b.add(rdsInstance, "db", `{"engine":"postgres","storageEncrypted":true,"kmsKeyId":"`+keyARN+`"}`)
		b.add(rdsInstance, "member", `{"engine":"aurora-postgresql","dbClusterIdentifier":"c"}`) // the cluster holds storage
	}, false},
	ruleCase{"AWS-RDS-001", "not encrypted", func(b *builder) {
		b.add(rdsInstance, "db", `{"engine":"postgres","storageEncrypted":false,"kmsKeyId":"`+keyARN+`"}`)
	}, true},
	ruleCase{"AWS-RDS-001", "AWS-managed key", func(b *builder) {
		b.add(rdsInstance, "db", `{"engine":"postgres","storageEncrypted":true}`)
	}, true},
	ruleCase{"AWS-RDS-001", "cluster not encrypted", func(b *builder) {
		b.add(rdsCluster, "aurora", `{"engine":"aurora-postgresql"}`)
	}, true},
	// AWS-RDS-002
	ruleCase{"AWS-RDS-002", "private", func(b *builder) {
		b.add(rdsInstance, "db", `{"publiclyAccessible":false}`)
		b.add(rdsInstance, "unset", `{}`)
	}, false},
	ruleCase{"AWS-RDS-002", "public", func(b *builder) { b.add(rdsInstance, "db", `{"publiclyAccessible":true}`) }, true},
	ruleCase{"AWS-RDS-002", "unknown", func(b *builder) { b.add(rdsInstance, "db", `{"publiclyAccessible":"[unknown]"}`) }, true},
	// AWS-RDS-003
	ruleCase{"AWS-RDS-003", "force_ssl and require_secure_transport", func(b *builder) {
		pg := b.add(rdsParameterGroup, "pg", `{"parameters":[{"name":"rds.force_ssl","value":"1"}]}`)
		b.add(rdsInstance, "db", `{"engine":"postgres","parameterGroupName":"pg-id"}`, from("parameterGroupName", pg))
		my := b.add(rdsParameterGroup, "my", `{"parameters":[{"name":"require_secure_transport","value":"ON"}]}`)
		b.add(rdsInstance, "mysql", `{"engine":"mysql","parameterGroupName":"my-id"}`, from("parameterGroupName", my))
	}, false},
	ruleCase{"AWS-RDS-003", "parameter missing", func(b *builder) {
		pg := b.add(rdsParameterGroup, "pg", `{"parameters":[{"name":"work_mem","value":"4096"}]}`)
		b.add(rdsInstance, "db", `{"engine":"postgres","parameterGroupName":"pg-id"}`, from("parameterGroupName", pg))
	}, true},
	ruleCase{"AWS-RDS-003", "default parameter group", func(b *builder) { b.add(rdsInstance, "db", `{"engine":"postgres"}`) }, true},
	ruleCase{"AWS-RDS-003", "parameter group from elsewhere", func(b *builder) {
		b.add(rdsInstance, "db", `{"engine":"postgres","parameterGroupName":"default.postgres17"}`)
	}, true},
	// AWS-RDS-004
	ruleCase{"AWS-RDS-004", "protected in prod", func(b *builder) {
		b.production().add(rdsInstance, "db", `{"deletionProtection":true,"skipFinalSnapshot":false}`)
	}, false},
	ruleCase{"AWS-RDS-004", "staging may delete", func(b *builder) {
		b.add(rdsInstance, "db", `{"deletionProtection":false,"skipFinalSnapshot":true}`)
	}, false},
	ruleCase{"AWS-RDS-004", "no deletion protection in prod", func(b *builder) {
		b.production().add(rdsInstance, "db", `{"deletionProtection":false}`)
	}, true},
	ruleCase{"AWS-RDS-004", "no final snapshot in prod", func(b *builder) {
		b.production().add(rdsInstance, "db", `{"deletionProtection":true,"skipFinalSnapshot":true}`)
	}, true},
	// AWS-RDS-005
	ruleCase{"AWS-RDS-005", "multi-AZ prod and a two-member cluster", func(b *builder) {
		b.production().add(rdsInstance, "db", `{"multiAz":true}`)
		c := b.add(rdsCluster, "aurora", `{}`)
		b.add(rdsClusterInstance, "a", `{}`, from("clusterIdentifier", c))
		b.add(rdsClusterInstance, "b", `{}`, from("clusterIdentifier", c))
	}, false},
	ruleCase{"AWS-RDS-005", "single-AZ staging", func(b *builder) { b.add(rdsInstance, "db", `{"multiAz":false}`) }, false},
	ruleCase{"AWS-RDS-005", "single-AZ prod", func(b *builder) { b.production().add(rdsInstance, "db", `{"multiAz":false}`) }, true},
	ruleCase{"AWS-RDS-005", "one-member cluster in prod", func(b *builder) {
		c := b.production().add(rdsCluster, "aurora", `{}`)
		b.add(rdsClusterInstance, "a", `{}`, from("clusterIdentifier", c))
	}, true},
	// AWS-RDS-006
	ruleCase{"AWS-RDS-006", "a week in prod", func(b *builder) {
		b.production().add(rdsInstance, "db", `{"backupRetentionPeriod":7}`)
	}, false},
	ruleCase{"AWS-RDS-006", "three days in staging", func(b *builder) { b.add(rdsInstance, "db", `{"backupRetentionPeriod":3}`) }, false},
	ruleCase{"AWS-RDS-006", "three days in prod", func(b *builder) {
		b.production().add(rdsInstance, "db", `{"backupRetentionPeriod":3}`)
	}, true},
	ruleCase{"AWS-RDS-006", "unset in prod", func(b *builder) { b.production().add(rdsInstance, "db", `{}`) }, true},
	// AWS-EC-001
	ruleCase{"AWS-EC-001", "encrypted with our key", func(b *builder) {
		b.add(cacheGroup, "cache", `{"atRestEncryptionEnabled":true,"kmsKeyId":"`+keyARN+`"}`)
		b.add(cacheCluster, "member", `{"replicationGroupId":"cache"}`)
	}, false},
	ruleCase{"AWS-EC-001", "not encrypted", func(b *builder) { b.add(cacheGroup, "cache", `{"kmsKeyId":"`+keyARN+`"}`) }, true},
	ruleCase{"AWS-EC-001", "AWS-managed key", func(b *builder) { b.add(cacheGroup, "cache", `{"atRestEncryptionEnabled":true}`) }, true},
	ruleCase{"AWS-EC-001", "standalone cluster", func(b *builder) { b.add(cacheCluster, "cache", `{"engine":"redis"}`) }, true},
	// AWS-EC-002
	ruleCase{"AWS-EC-002", "TLS required", func(b *builder) {
		b.add(cacheGroup, "cache", `{"transitEncryptionEnabled":true,"transitEncryptionMode":"required"}`)
	}, false},
	ruleCase{"AWS-EC-002", "TLS off", func(b *builder) { b.add(cacheGroup, "cache", `{}`) }, true},
	ruleCase{"AWS-EC-002", "TLS preferred", func(b *builder) {
		b.add(cacheGroup, "cache", `{"transitEncryptionEnabled":true,"transitEncryptionMode":"preferred"}`)
	}, true},
	// AWS-EC-003
	ruleCase{"AWS-EC-003", "AUTH token", func(b *builder) { b.add(cacheGroup, "cache", `{"authToken":"[secret]"}`) }, false},
	ruleCase{"AWS-EC-003", "no authentication", func(b *builder) { b.add(cacheGroup, "cache", `{}`) }, true},
	// AWS-EC-004
	ruleCase{"AWS-EC-004", "replicated prod", func(b *builder) {
		b.production().add(cacheGroup, "cache", `{"numCacheClusters":2,"multiAzEnabled":true,"automaticFailoverEnabled":true}`)
	}, false},
	ruleCase{"AWS-EC-004", "one node in staging", func(b *builder) { b.add(cacheGroup, "cache", `{"numCacheClusters":1}`) }, false},
	ruleCase{"AWS-EC-004", "one node in prod", func(b *builder) {
		b.production().add(cacheGroup, "cache", `{"numCacheClusters":1,"multiAzEnabled":false}`)
	}, true},
	ruleCase{"AWS-EC-004", "replica without failover in prod", func(b *builder) {
		b.production().add(cacheGroup, "cache", `{"numCacheClusters":2,"multiAzEnabled":true,"automaticFailoverEnabled":false}`)
	}, true},
	// AWS-EBS-001
	ruleCase{"AWS-EBS-001", "encrypted launch template, node group on it, default Karpenter volumes", func(b *builder) {
		lt := b.add(launchTemplate, "nodes", goodLaunchTemplate)
		b.add(eksNodeGroup, "system", `{"launchTemplate":{"id":"nodes-id","version":"1"}}`, from("launchTemplate", lt))
		b.add("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "default", `{"metadata":{"name":"default"},"spec":{"amiSelectorTerms":[{"alias":"al2023@latest"}]}}`)
	}, false},
	ruleCase{"AWS-EBS-001", "unencrypted mapping", func(b *builder) {
		b.add(launchTemplate, "nodes", strings.Replace(goodLaunchTemplate, `"encrypted":"true"`, `"encrypted":"false"`, 1))
	}, true},
	ruleCase{"AWS-EBS-001", "no mapping", func(b *builder) {
		b.add(launchTemplate, "nodes", `{"metadataOptions":{"httpTokens":"required","httpPutResponseHopLimit":1}}`)
	}, true},
	ruleCase{"AWS-EBS-001", "node group without launch template", func(b *builder) { b.add(eksNodeGroup, "system", `{}`) }, true},
	ruleCase{"AWS-EBS-001", "Karpenter mapping unencrypted", func(b *builder) {
		b.add("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "default", `{"metadata":{"name":"default"},"spec":{"blockDeviceMappings":[{"deviceName":"/dev/xvda","ebs":{"volumeSize":"100Gi","encrypted":false}}]}}`)
	}, true},
	ruleCase{"AWS-EBS-001", "EBS volume unencrypted", func(b *builder) { b.add(ebsVolume, "data", `{"size":10}`) }, true},
	// AWS-EBS-002
	ruleCase{"AWS-EBS-002", "encrypted gp3 and a non-EBS class", func(b *builder) {
		b.add("kubernetes:storage.k8s.io/v1:StorageClass", "gp3", `{"metadata":{"name":"gp3"},"provisioner":"ebs.csi.aws.com","parameters":{"type":"gp3","encrypted":"true"}}`)
		b.add("kubernetes:storage.k8s.io/v1:StorageClass", "efs", `{"metadata":{"name":"efs"},"provisioner":"efs.csi.aws.com"}`)
	}, false},
	ruleCase{"AWS-EBS-002", "unencrypted gp3", func(b *builder) {
		b.add("kubernetes:storage.k8s.io/v1:StorageClass", "gp3", `{"metadata":{"name":"gp3"},"provisioner":"ebs.csi.aws.com","parameters":{"type":"gp3"}}`)
	}, true},
	// AWS-EC2-001
	ruleCase{"AWS-EC2-001", "IMDSv2 required", func(b *builder) {
		b.add(launchTemplate, "nodes", goodLaunchTemplate)
		b.add("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "default", `{"metadata":{"name":"default"},"spec":{"metadataOptions":{"httpTokens":"required","httpPutResponseHopLimit":1}}}`)
	}, false},
	ruleCase{"AWS-EC2-001", "IMDSv1 allowed", func(b *builder) {
		b.add(launchTemplate, "nodes", strings.Replace(goodLaunchTemplate, `"httpTokens":"required"`, `"httpTokens":"optional"`, 1))
	}, true},
	ruleCase{"AWS-EC2-001", "node group on EKS defaults", func(b *builder) { b.add(eksNodeGroup, "system", `{}`) }, true},
	ruleCase{"AWS-EC2-001", "Karpenter IMDSv1", func(b *builder) {
		b.add("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "default", `{"metadata":{"name":"default"},"spec":{"metadataOptions":{"httpTokens":"optional"}}}`)
	}, true},
	// AWS-EC2-002
	ruleCase{"AWS-EC2-002", "one hop", func(b *builder) { b.add(launchTemplate, "nodes", goodLaunchTemplate) }, false},
	ruleCase{"AWS-EC2-002", "two hops", func(b *builder) {
		b.add(launchTemplate, "nodes", strings.Replace(goodLaunchTemplate, `"httpPutResponseHopLimit":1`, `"httpPutResponseHopLimit":2`, 1))
	}, true},
	ruleCase{"AWS-EC2-002", "hop limit unset", func(b *builder) {
		b.add(launchTemplate, "nodes", strings.Replace(goodLaunchTemplate, `,"httpPutResponseHopLimit":1`, ``, 1))
	}, true},
	ruleCase{"AWS-EC2-002", "Karpenter two hops", func(b *builder) {
		b.add("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "default", `{"metadata":{"name":"default"},"spec":{"metadataOptions":{"httpTokens":"required","httpPutResponseHopLimit":2}}}`)
	}, true},
	// AWS-EKS-001
	ruleCase{"AWS-EKS-001", "secrets encrypted", func(b *builder) { b.add(eksCluster, "eks", goodEKS) }, false},
	ruleCase{"AWS-EKS-001", "no encryption config", func(b *builder) {
		b.add(eksCluster, "eks", `{"vpcConfig":{"endpointPrivateAccess":true,"endpointPublicAccess":false}}`)
	}, true},
	// AWS-EKS-002
	ruleCase{"AWS-EKS-002", "configured CIDR, and a private-only cluster", func(b *builder) {
		b.p.Config["stackauth:clusterPublicAccessCidrs"] = `["203.0.113.0/24"]`
		b.add(eksCluster, "eks", goodEKS)
		b.add(eksCluster, "private", `{"vpcConfig":{"endpointPrivateAccess":true,"endpointPublicAccess":false}}`)
	}, false},
	ruleCase{"AWS-EKS-002", "open to the internet", func(b *builder) {
		b.add(eksCluster, "eks", strings.Replace(goodEKS, "203.0.113.0/24", "0.0.0.0/0", 1))
	}, true},
	ruleCase{"AWS-EKS-002", "the internet in halves, as configured", func(b *builder) {
		b.p.Config["stackauth:clusterPublicAccessCidrs"] = `["0.0.0.0/1","128.0.0.0/1"]`
		b.add(eksCluster, "eks", strings.Replace(goodEKS, `"203.0.113.0/24"`, `"0.0.0.0/1","128.0.0.0/1"`, 1))
	}, true},
	ruleCase{"AWS-EKS-002", "public with no CIDRs", func(b *builder) {
		b.add(eksCluster, "eks", `{"vpcConfig":{"endpointPrivateAccess":true}}`)
	}, true},
	ruleCase{"AWS-EKS-002", "CIDR outside the config", func(b *builder) {
		b.p.Config["stackauth:clusterPublicAccessCidrs"] = `["203.0.113.0/24"]`
		b.add(eksCluster, "eks", strings.Replace(goodEKS, "203.0.113.0/24", "198.51.100.0/24", 1))
	}, true},
	ruleCase{"AWS-EKS-002", "private endpoint off", func(b *builder) {
		b.add(eksCluster, "eks", strings.Replace(goodEKS, `"endpointPrivateAccess":true`, `"endpointPrivateAccess":false`, 1))
	}, true},
	// AWS-EKS-003
	ruleCase{"AWS-EKS-003", "audit logs on", func(b *builder) { b.add(eksCluster, "eks", goodEKS) }, false},
	ruleCase{"AWS-EKS-003", "no audit log", func(b *builder) {
		b.add(eksCluster, "eks", strings.Replace(goodEKS, `"audit",`, ``, 1))
	}, true},
	// AWS-SM-001
	ruleCase{"AWS-SM-001", "our key", func(b *builder) { b.add(secretsManagerSecret, "app", `{"kmsKeyId":"`+keyARN+`"}`) }, false},
	ruleCase{"AWS-SM-001", "default key", func(b *builder) { b.add(secretsManagerSecret, "app", `{}`) }, true},
	ruleCase{"AWS-SM-001", "AWS-managed alias", func(b *builder) {
		b.add(secretsManagerSecret, "app", `{"kmsKeyId":"alias/aws/secretsmanager"}`)
	}, true},
	// AWS-KMS-001
	ruleCase{"AWS-KMS-001", "rotating, and an asymmetric key", func(b *builder) {
		b.add(kmsKey, "data", `{"enableKeyRotation":true}`)
		b.add(kmsKey, "signing", `{"customerMasterKeySpec":"ECC_NIST_P256"}`)
	}, false},
	ruleCase{"AWS-KMS-001", "not rotating", func(b *builder) { b.add(kmsKey, "data", `{}`) }, true},
	// AWS-LOG-001
	ruleCase{"AWS-LOG-001", "kept a month", func(b *builder) { b.add(logGroup, "logs", `{"retentionInDays":30}`) }, false},
	ruleCase{"AWS-LOG-001", "kept forever", func(b *builder) { b.add(logGroup, "logs", `{}`) }, true},
	// AWS-PROD-001
	ruleCase{"AWS-PROD-001", "protected in prod", func(b *builder) {
		b.production().add(rdsInstance, "db", `{}`, protected())
	}, false},
	ruleCase{"AWS-PROD-001", "unprotected in staging", func(b *builder) { b.add(rdsInstance, "db", `{}`) }, false},
	ruleCase{"AWS-PROD-001", "unprotected database in prod", func(b *builder) { b.production().add(rdsInstance, "db", `{}`) }, true},
	ruleCase{"AWS-PROD-001", "unprotected bucket in prod", func(b *builder) { b.production().add(s3BucketV2, "uploads", `{}`) }, true},
)

const goodLaunchTemplate = `{
	"metadataOptions":{"httpEndpoint":"enabled","httpTokens":"required","httpPutResponseHopLimit":1},
	"blockDeviceMappings":[{"deviceName":"/dev/xvda","ebs":{"volumeSize":100,"encrypted":"true","kmsKeyId":"` + keyARN + `"}}]}`

const goodEKS = `{
	"vpcConfig":{"endpointPrivateAccess":true,"endpointPublicAccess":true,"publicAccessCidrs":["203.0.113.0/24"]},
	"encryptionConfig":{"resources":["secrets"],"provider":{"keyArn":"` + keyARN + `"}},
	"enabledClusterLogTypes":["api","audit","authenticator"]}`
