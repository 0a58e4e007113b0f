// Package misconfig finds misconfigurations in Kubernetes objects: the Pod
// Security Standards, judged by the official evaluator from
// k8s.io/pod-security-admission, and the workload hygiene checks users expect
// beyond them. Every finding points at the line of the offending field.
package misconfig
