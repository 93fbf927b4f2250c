#!/usr/bin/env bash
# Builds kube-apiserver v1.36.3 from its Go module into $1 (a directory), through the module proxy.
set -euo pipefail
out="$1"; ver=v1.36.3; stage=v0.36.3
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<MOD
module kasbuild

go 1.26.0

require k8s.io/kubernetes $ver
MOD
for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller; do
  echo "replace k8s.io/$m => k8s.io/$m $stage" >> go.mod
done
cat > main.go <<'GO'
package main

import _ "k8s.io/kubernetes/cmd/kube-apiserver/app"

func main() {}
GO
go mod tidy >/dev/null 2>&1 || go mod tidy
go build -o "$out/kube-apiserver" -ldflags "-X k8s.io/component-base/version.gitVersion=$ver" k8s.io/kubernetes/cmd/kube-apiserver
