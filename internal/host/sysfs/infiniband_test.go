package sysfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hardware-exporter/hardware_exporter/internal/host/hostfs"
)

// procfs's captures: identity, counters and hw_counters as the files say.
func TestReadInfiniBandDeviceProcfs(t *testing.T) {
	fsys := hostfs.New("testdata/procfs")
	names, errs := InfiniBandDeviceNames(fsys)
	if len(errs) != 0 || len(names) != 3 || names[0] != "hfi1_0" || names[1] != "mlx4_0" || names[2] != "mlx5_0" {
		t.Fatalf("InfiniBandDeviceNames = %v, %v", names, errs)
	}

	mlx4, errs := ReadInfiniBandDevice(fsys, "mlx4_0")
	if len(errs) != 0 {
		t.Fatalf("mlx4_0: %v", errs)
	}
	if mlx4.FirmwareVersion != "2.31.5050" || mlx4.BoardID != "SM_1141000001000" || mlx4.HCAType != "MT4099" {
		t.Errorf("mlx4_0 identity = %q %q %q", mlx4.FirmwareVersion, mlx4.BoardID, mlx4.HCAType)
	}
	if len(mlx4.Ports) != 2 || mlx4.Ports[0].Name != "1" || mlx4.Ports[1].Name != "2" {
		t.Fatalf("mlx4_0 ports = %+v", mlx4.Ports)
	}
	p2 := mlx4.Ports[1]
	if len(p2.Counters) != len(InfiniBandPortCounters) || p2.Counters["port_xmit_wait"] != 3846 ||
		p2.Counters["port_xmit_data"] != 26540356890 || p2.Counters["symbol_error"] != 0 {
		t.Errorf("mlx4_0 port 2 counters = %v", p2.Counters)
	}
	if len(p2.HWCounters) != 0 {
		t.Errorf("mlx4_0 port 2 hw_counters = %v, want none", p2.HWCounters)
	}

	mlx5, errs := ReadInfiniBandDevice(fsys, "mlx5_0")
	if len(errs) != 0 {
		t.Fatalf("mlx5_0: %v", errs)
	}
	hw := mlx5.Ports[0].HWCounters
	if _, ok := hw["lifespan"]; ok {
		t.Error("lifespan, a setting, read as a counter")
	}
	if hw["roce_adp_retrans"] != 99 || hw["out_of_sequence"] != 1 || hw["rx_read_requests"] != 175528982 {
		t.Errorf("mlx5_0 hw_counters = %v", hw)
	}

	hfi, errs := ReadInfiniBandDevice(fsys, "hfi1_0")
	if len(errs) != 0 || hfi.HCAType != "" || hfi.FirmwareVersion != "1.27.0" || len(hfi.Ports) != 1 {
		t.Errorf("hfi1_0 = %+v, %v", hfi, errs)
	}
}

// "N/A (no PMA)" is a counter the port does not have; garbage and an
// unreadable file are errors that cost their counter only.
func TestReadInfiniBandDeviceBadCounters(t *testing.T) {
	root := t.TempDir()
	c := "class/infiniband/mlx4_0/ports/1/counters/"
	plant(t, root, map[string]string{
		"class/infiniband/mlx4_0/fw_ver":          "2.42.5000\n",
		c + "symbol_error":                        "N/A (no PMA)\n",
		c + "link_downed":                         "many\n",
		c + "port_rcv_errors":                     "7\n",
		"class/infiniband/mlx4_0/ports/1/state":   "4: ACTIVE\n",
		"class/infiniband/mlx4_0/ports/lid":       "0x1\n", // not a port
		"class/infiniband/mlx4_0/ports/2/rate":    "40 Gb/sec (4X QDR)\n",
		"class/infiniband/irdma0/ports/1/state":   "4: ACTIVE\n",
		"class/infiniband/irdma0/hw_counters/ip4": "1\n",
	})
	if err := os.Mkdir(filepath.Join(root, c, "port_xmit_wait"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, errs := ReadInfiniBandDevice(hostfs.New(root), "mlx4_0")
	if len(errs) != 2 {
		t.Errorf("errors = %v, want link_downed and port_xmit_wait", errs)
	}
	if len(d.Ports) != 2 || d.Ports[0].Port != 1 || d.Ports[1].Port != 2 {
		t.Fatalf("ports = %+v", d.Ports)
	}
	if want := map[string]uint64{"port_rcv_errors": 7}; len(d.Ports[0].Counters) != 1 || d.Ports[0].Counters["port_rcv_errors"] != 7 {
		t.Errorf("port 1 counters = %v, want %v", d.Ports[0].Counters, want)
	}
	if len(d.Ports[1].Counters) != 0 || len(d.Ports[1].HWCounters) != 0 {
		t.Errorf("port 2 = %+v, want no counters", d.Ports[1])
	}
	// An iWARP device with no counters/ at all reads clean.
	if d, errs := ReadInfiniBandDevice(hostfs.New(root), "irdma0"); len(errs) != 0 || len(d.Ports) != 1 {
		t.Errorf("irdma0 = %+v, %v", d, errs)
	}
}
