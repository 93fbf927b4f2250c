// Package admission is ingot's Kubernetes admission webhook: it decodes admission.k8s.io/v1
// AdmissionReviews (hand-written types, no Kubernetes libraries), finds every image a workload would
// run (containers, init and ephemeral containers, image volumes, in Pods and every pod template kind),
// decides each with pkg/policy, and answers: denials naming the image and the requirement, warnings,
// audit annotations, or, for the mutating webhook, a patch pinning tags to digests. Registry verdicts
// and catalog records are cached with TTLs; catalog events are followed so a revocation reaches every
// replica within seconds. Server adds TLS, health, readiness and Prometheus metrics; manifests and
// development certificates are rendered here too.
package admission
