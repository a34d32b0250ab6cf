package sff

import "fmt"

// identifierNames are SFF-8024 rev 4.11 table 4-1, the module types a
// server NIC meets; any other code is named by its number.
var identifierNames = map[byte]string{
	0x00: "unknown",
	0x01: "GBIC",
	0x02: "soldered",
	0x03: "SFP",
	0x0C: "QSFP",
	0x0D: "QSFP+",
	0x11: "QSFP28",
	0x18: "QSFP-DD",
	0x19: "OSFP",
	0x1A: "SFP-DD",
	0x1B: "DSFP",
	0x1E: "QSFP+ CMIS",
	0x1F: "SFP-DD CMIS",
	0x20: "SFP+ CMIS",
	0x21: "OSFP-XD",
	0x22: "OIF-ELS",
	0x23: "CDFP",
}

// IdentifierName names an SFF-8024 identifier code.
func IdentifierName(id byte) string {
	if n, ok := identifierNames[id]; ok {
		return n
	}
	return fmt.Sprintf("0x%02x", id)
}

// connectorNames are SFF-8024 rev 4.11 table 4-3.
var connectorNames = map[byte]string{
	0x00: "unknown",
	0x01: "SC",
	0x02: "FC style 1 copper",
	0x03: "FC style 2 copper",
	0x04: "BNC/TNC",
	0x05: "FC coax",
	0x06: "Fiber Jack",
	0x07: "LC",
	0x08: "MT-RJ",
	0x09: "MU",
	0x0A: "SG",
	0x0B: "optical pigtail",
	0x0C: "MPO 1x12",
	0x0D: "MPO 2x16",
	0x20: "HSSDC II",
	0x21: "copper pigtail",
	0x22: "RJ45",
	0x23: "no separable connector",
	0x24: "MXC 2x16",
	0x25: "CS",
	0x26: "SN",
	0x27: "MPO 2x12",
	0x28: "MPO 1x16",
}

// ConnectorName names an SFF-8024 connector code.
func ConnectorName(c byte) string {
	if n, ok := connectorNames[c]; ok {
		return n
	}
	return fmt.Sprintf("0x%02x", c)
}
