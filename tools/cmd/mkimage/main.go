// Command mkimage writes the exporter's multi-arch OCI image as a tar file
// of an OCI layout (see tools/image). `make image` runs it:
//
//	mkimage -version 0.1.0 -out dist/hardware_exporter-0.1.0-image.tar \
//	    amd64=dist/linux-amd64/hardware_exporter arm64=dist/linux-arm64/hardware_exporter
//
// The timestamp comes from SOURCE_DATE_EPOCH (required: a build time
// would make every build differ).
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hardware-exporter/hardware_exporter/tools/image"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run() error {
	version := flag.String("version", "", "image version (the VERSION file)")
	revision := flag.String("revision", "", "git commit, for the org.opencontainers.image.revision label")
	source := flag.String("source", "", "org.opencontainers.image.source label")
	out := flag.String("out", "", "tar file to write")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mkimage -version V -out FILE.tar ARCH=BINARY...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		return fmt.Errorf("-out and at least one ARCH=BINARY are required")
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		return fmt.Errorf("SOURCE_DATE_EPOCH is not set (make image sets it from the last commit)")
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("SOURCE_DATE_EPOCH=%q: %v", epoch, err)
	}
	created := time.Unix(sec, 0).UTC()
	bins := map[string][]byte{}
	for _, arg := range flag.Args() {
		arch, path, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("%q: want ARCH=BINARY", arg)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		bins[arch] = b
	}
	idx, err := image.Build(image.Options{Binaries: bins, Version: *version, Revision: *revision, Source: *source, Created: created})
	if err != nil {
		return err
	}
	if err := image.WriteArchive(idx, "hardware_exporter:"+*version, *out, created); err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Printf("%s: index %s, %d bytes\n", *out, d, st.Size())
	return nil
}
