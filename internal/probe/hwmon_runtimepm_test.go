package probe

import "testing"

// The sensors of a runtime-suspended PCI device (an idle dGPU) are not
// read: amdgpu and others resume the device to answer them, so a read a
// minute keeps it powered (node_exporter #2681). Its chip_info stays, so
// the chip does not vanish from inventory. A PCI device that is active,
// and a suspended device off the PCI bus (an i2c client whose reads are
// cheap), are read as before.
func TestHwmonRuntimeSuspendedPCIDeviceNotWoken(t *testing.T) {
	root := t.TempDir()
	const idle = "sys/devices/pci0000:00/0000:00:01.0/0000:09:00.0"
	const busy = "sys/devices/pci0000:00/0000:00:01.1/0000:0a:00.0"
	const psu = "sys/devices/platform/i2c_designware.0/i2c-1/1-0058"
	plantTree(t, root, map[string]string{
		idle + "/power/runtime_status":     "suspended\n",
		idle + "/hwmon/hwmon1/name":        "amdgpu\n",
		idle + "/hwmon/hwmon1/device":      "-> ../../../0000:09:00.0",
		idle + "/hwmon/hwmon1/temp1_input": "41000\n",
		"sys/class/hwmon/hwmon1":           "-> ../../devices/pci0000:00/0000:00:01.0/0000:09:00.0/hwmon/hwmon1",
		busy + "/power/runtime_status":     "active\n",
		busy + "/hwmon/hwmon2/name":        "amdgpu\n",
		busy + "/hwmon/hwmon2/device":      "-> ../../../0000:0a:00.0",
		busy + "/hwmon/hwmon2/temp1_input": "52000\n",
		"sys/class/hwmon/hwmon2":           "-> ../../devices/pci0000:00/0000:00:01.1/0000:0a:00.0/hwmon/hwmon2",
		psu + "/power/runtime_status":      "suspended\n",
		psu + "/hwmon/hwmon3/name":         "dps920ab\n",
		psu + "/hwmon/hwmon3/device":       "-> ../../../1-0058",
		psu + "/hwmon/hwmon3/temp1_input":  "30000\n",
		"sys/class/hwmon/hwmon3":           "-> ../../devices/platform/i2c_designware.0/i2c-1/1-0058/hwmon/hwmon3",
	})
	c, skips := runProbe(t, "hwmon", treePaths(root))
	if skips.Count() != 0 {
		t.Errorf("skips = %d, want 0", skips.Count())
	}
	assertSeries(t, gatherSeries(t, c), "hardware_hwmon_", map[string]float64{
		`hardware_hwmon_chip_info{chip="0000:00:01_0_0000:09:00_0",chip_name="amdgpu"}`:                1,
		`hardware_hwmon_chip_info{chip="0000:00:01_1_0000:0a:00_0",chip_name="amdgpu"}`:                1,
		`hardware_hwmon_temperature_celsius{chip="0000:00:01_1_0000:0a:00_0",label="",sensor="temp1"}`: 52,
		`hardware_hwmon_chip_info{chip="i2c_1_1_0058",chip_name="dps920ab"}`:                           1,
		`hardware_hwmon_temperature_celsius{chip="i2c_1_1_0058",label="",sensor="temp1"}`:              30,
	})
}
