package ipmitool

import (
	"errors"
	"strconv"
	"strings"
)

// MCInfo is what `ipmitool mc info` (alias `bmc info`) says about the
// management controller.
type MCInfo struct {
	DeviceID         int
	DeviceRevision   int
	FirmwareRevision string // "2.41"; ipmitool prints major.minor only
	IPMIVersion      string // "2.0"
	ManufacturerID   uint32 // IANA enterprise number: 674 Dell, 11 HP(E), 10876 Supermicro, 19046 Lenovo
	ManufacturerName string // "Unknown" when ipmitool does not know the ID
	ProductID        uint32
	ProductName      string // "Unknown (0x100)" when ipmitool does not know it
	DeviceAvailable  bool
	ProvidesSDRs     bool
	// AdditionalDeviceSupport lists the capabilities: "Sensor Device",
	// "SEL Device", "Chassis Device", ...
	AdditionalDeviceSupport []string
	// AuxFirmwareRevision is the four bytes of auxiliary revision
	// information ("0x00"), when printed; vendors put build numbers here.
	AuxFirmwareRevision []string
}

// ParseMCInfo parses `ipmitool mc info`. It fails only when the "Device
// ID" line is missing or malformed.
func ParseMCInfo(out []byte) (MCInfo, error) {
	var info MCInfo
	var errs []error
	sawID := false
	var list *[]string
	keyValues(out, func(key, value string) {
		list = nil
		switch key {
		case "Device ID":
			n, err := strconv.Atoi(value)
			if err != nil {
				errs = append(errs, errors.New("mc info: malformed Device ID "+strconv.Quote(value)))
				return
			}
			info.DeviceID, sawID = n, true
		case "Device Revision":
			info.DeviceRevision, _ = strconv.Atoi(value)
		case "Firmware Revision":
			info.FirmwareRevision = value
		case "IPMI Version":
			info.IPMIVersion = value
		case "Manufacturer ID":
			num, _, _ := strings.Cut(value, " ")
			if n, err := strconv.ParseUint(num, 10, 32); err == nil {
				info.ManufacturerID = uint32(n)
			}
		case "Manufacturer Name":
			info.ManufacturerName = value
		case "Product ID":
			num, _, _ := strings.Cut(value, " ")
			if n, err := strconv.ParseUint(num, 10, 32); err == nil {
				info.ProductID = uint32(n)
			}
		case "Product Name":
			info.ProductName = value
		case "Device Available":
			info.DeviceAvailable = value == "yes"
		case "Provides Device SDRs":
			info.ProvidesSDRs = value == "yes"
		case "Additional Device Support":
			list = &info.AdditionalDeviceSupport
		case "Aux Firmware Rev Info":
			list = &info.AuxFirmwareRevision
		}
	}, func(line string) {
		// Indented lines continue the list opened by the key above them.
		item := strings.TrimSpace(line)
		if list == nil || item == "" || !strings.HasPrefix(line, " ") {
			list = nil
			return
		}
		if len(*list) < 32 {
			*list = append(*list, item)
		}
	})
	if !sawID {
		return info, errors.Join(append(errs, errors.New("mc info: no Device ID line"))...)
	}
	return info, nil
}
