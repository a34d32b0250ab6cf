// Package scsi decodes the SCSI Vital Product Data pages the kernel exposes
// below a SCSI device in sysfs (vpd_pg80, vpd_pg89), as it read them from
// the device with INQUIRY or, for ATA disks, as libata's SAT layer made them.
package scsi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// UnitSerialNumber decodes the Unit Serial Number VPD page (0x80, SPC-4
// 7.8.18): a 4-byte header whose last two bytes are the length, then that
// many ASCII bytes, space padded on either side.
func UnitSerialNumber(page []byte) (string, error) {
	if len(page) < 4 || page[1] != 0x80 || len(page) < 4+int(binary.BigEndian.Uint16(page[2:4])) {
		return "", fmt.Errorf("not a unit serial number VPD page (%d bytes)", len(page))
	}
	return string(bytes.Trim(page[4:4+int(binary.BigEndian.Uint16(page[2:4]))], " \x00")), nil
}

// Offsets in the ATA Information VPD page (0x89, SAT-4 12.4.2) and in the
// IDENTIFY DEVICE data it embeds (ACS-4 7.13.6: words 23-26 firmware, 27-46
// model).
const (
	vpd89Command   = 56
	vpd89Identify  = 60
	identifyFWRev  = 23 * 2
	identifyModel  = 27 * 2
	identifyEnd    = 47 * 2
	ataIdentifyCmd = 0xec
)

// ATAIdentity decodes the model and firmware of an ATA disk from the ATA
// Information VPD page (0x89) a SAT layer such as libata makes, where SCSI
// INQUIRY cuts them to 16 and 4 characters. ok is false, with no error,
// when the page holds IDENTIFY PACKET DEVICE data (an ATAPI drive) or no
// model.
func ATAIdentity(page []byte) (model, firmware string, ok bool, err error) {
	if len(page) < vpd89Identify+512 || page[1] != 0x89 {
		return "", "", false, fmt.Errorf("not an ATA information VPD page (%d bytes)", len(page))
	}
	if page[vpd89Command] != ataIdentifyCmd {
		return "", "", false, nil
	}
	id := page[vpd89Identify : vpd89Identify+512]
	model = ataString(id[identifyModel:identifyEnd])
	firmware = ataString(id[identifyFWRev:identifyModel])
	return model, firmware, model != "", nil
}

// ataString decodes an IDENTIFY string: two characters per 16-bit word,
// first character in the high byte. libata stores the words in CPU order,
// little-endian on the hosts this exporter runs on, so each byte pair is
// swapped.
func ataString(b []byte) string {
	s := make([]byte, len(b))
	for i := 0; i+1 < len(b); i += 2 {
		s[i], s[i+1] = b[i+1], b[i]
	}
	return strings.Trim(string(s), " \x00")
}
