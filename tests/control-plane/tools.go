//go:build tools

// Binaries built from this module's dependencies (see build.sh); the import keeps them in go.mod.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
