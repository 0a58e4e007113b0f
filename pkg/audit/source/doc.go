// Package source reads Kubernetes audit events: the API server's log files
// (JSON lines of audit.k8s.io/v1 Events, EventList documents), gzipped or
// not, rotated or followed as they grow, and the exports of managed
// clusters' audit logs, GKE's Cloud Logging entries and EKS's CloudWatch
// Logs events, converted to Events. The format of each input is detected
// from its first bytes unless forced. Bad lines are reported with their
// file:line and the stream goes on.
//
// # Exporting GKE audit logs
//
// GKE writes its audit logs to Cloud Logging. Read them with gcloud into a
// file (admin activity and, when enabled, data access):
//
//	gcloud logging read --project P --format=json --freshness=1d \
//	  'resource.type="k8s_cluster" AND resource.labels.cluster_name="C" AND
//	   (logName="projects/P/logs/cloudaudit.googleapis.com%2Factivity" OR
//	    logName="projects/P/logs/cloudaudit.googleapis.com%2Fdata_access")' > gke-audit.json
//	mamori audit scan gke-audit.json
//
// A log sink to Cloud Storage or Pub/Sub writes the same entries as JSON
// lines; mamori reads those files too. The principal's email becomes the
// user, methodName (io.k8s.core.v1.pods.exec.create) the verb and resource,
// resourceName (core/v1/namespaces/ns/pods/name/exec) the namespace and
// name, status.code the HTTP code, operation.id (else insertId) the audit
// ID and the entry's labels the annotations.
//
// # Exporting EKS audit logs
//
// Enable the audit control-plane log type of the cluster:
//
//	aws eks update-cluster-config --name C \
//	  --logging '{"clusterLogging":[{"types":["audit"],"enabled":true}]}'
//
// The events go to the log group /aws/eks/C/cluster, streams
// kube-apiserver-audit-*. Fetch them with the AWS CLI:
//
//	aws logs filter-log-events --output json --log-group-name /aws/eks/C/cluster \
//	  --log-stream-name-prefix kube-apiserver-audit --start-time $(date -d -1hour +%s000) > eks-audit.json
//	mamori audit scan eks-audit.json
//
// or export them to S3 (aws logs create-export-task --log-group-name
// /aws/eks/C/cluster --log-stream-name-prefix kube-apiserver-audit --from
// ... --to ... --destination BUCKET) and read the gzipped files it writes
// (lines of "<timestamp> <message>"). Records of a subscription filter
// delivered by Firehose (DATA_MESSAGE, gzipped or not) are read as well.
// Messages of the log group's other streams (authenticator, scheduler)
// are skipped and counted in Stats.Skipped.
package source
