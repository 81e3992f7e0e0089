// control-plane: a real Kubernetes control plane for cache-operator's tests, built from the
// upstream Go modules (etcd, kube-apiserver, kube-controller-manager, kubectl), plus the checks
// that need Go clients: the apiserver's own CEL cost estimator on CRD files, kstatus and the
// Argo CD health scripts (gopher-lua) on live objects.
//
// Each component runs as its own process (a subcommand of this binary): the apiserver installs
// process-wide signal handlers and flags that collide when components share a process.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	kubectl "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

const usage = `usage: control-plane COMMAND [ARGS]

  up --dir DIR [--check]       start etcd, kube-apiserver and kube-controller-manager on loopback,
                               print the apiserver's URL, write DIR/admin.kubeconfig; stop on
                               SIGTERM/SIGINT or when the parent process goes away; with --check,
                               print the live server's /version and stop
  user --dir DIR --name N [--group G]... --out FILE
                               write a kubeconfig for a client-certificate user signed by DIR's CA
  crd-lint FILE...             run the apiserver's CRD validation and CEL cost estimator on CRD
                               YAML files; print every rule's estimated cost; exit 1 on refusal
  kstatus --kubeconfig K --resource GROUP/VERSION/PLURAL --namespace NS NAME
                               print kstatus' verdict on a live object (sigs.k8s.io/cli-utils)
  lua-health --kubeconfig K --resource GROUP/VERSION/PLURAL --namespace NS --script FILE NAME
                               run an Argo CD health script on a live object in gopher-lua
  version                      print the Kubernetes version this binary was built from
  etcd | kube-apiserver | kube-controller-manager | kubectl [ARGS]
                               the upstream components themselves
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	sub, args := os.Args[1], os.Args[2:]
	switch sub {
	case "etcd":
		etcdmain.Main(append([]string{"etcd"}, args...))
	case "kube-apiserver":
		os.Exit(runCobra(apiserver.NewAPIServerCommand(), args))
	case "kube-controller-manager":
		os.Exit(runCobra(kcm.NewControllerManagerCommand(), args))
	case "kubectl":
		os.Exit(runCobra(kubectl.NewDefaultKubectlCommand(), args))
	case "up":
		exit(up(args))
	case "user":
		exit(userCommand(args))
	case "crd-lint":
		exit(crdLint(args))
	case "kstatus":
		exit(kstatusCommand(args))
	case "lua-health":
		exit(luaHealthCommand(args))
	case "version":
		fmt.Println(builtVersion())
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
}

func runCobra(cmd *cobra.Command, args []string) int {
	cmd.SetArgs(args)
	return cli.Run(cmd)
}

func exit(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "control-plane:", err)
		if e, ok := err.(exitCode); ok {
			os.Exit(int(e.code))
		}
		os.Exit(1)
	}
	os.Exit(0)
}

type exitCode struct {
	code int
	msg  string
}

func (e exitCode) Error() string { return e.msg }
