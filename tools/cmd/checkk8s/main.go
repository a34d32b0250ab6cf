// Command checkk8s validates the manifests of a directory offline (see
// tools/kubernetes): each document decoded strictly into the Kubernetes
// and Prometheus Operator Go types, then cross-checked. It prints one line
// per valid object and exits 1 on any error.
//
//	go run ./cmd/checkk8s ../deploy/kubernetes
package main

import (
	"fmt"
	"os"

	"github.com/hardware-exporter/hardware_exporter/tools/kubernetes"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: checkk8s DIR")
		os.Exit(2)
	}
	objs, err := kubernetes.Decode(os.Args[1])
	if err == nil {
		err = kubernetes.Check(objs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "checkk8s:", err)
		os.Exit(1)
	}
	for _, o := range objs {
		fmt.Println("valid:", o)
	}
	fmt.Printf("%d objects valid\n", len(objs))
}
