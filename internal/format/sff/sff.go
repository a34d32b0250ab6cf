// Package sff decodes a pluggable transceiver's management memory (its
// "EEPROM"): identity and digital optical monitoring (DOM) of SFP modules
// (SFF-8472), QSFP+/QSFP28 modules (SFF-8636) and QSFP-DD/OSFP and other
// CMIS modules (CMIS 4.0/5.x), with the identifier and connector codes of
// SFF-8024. Bytes in, a plain struct out; nothing here reads a device.
//
// The input is a flat image, the layout `ethtool -m DEV raw on` writes
// through the kernel's legacy interface and that internal/host/ethtool
// assembles from page reads:
//
//   - SFF-8472 (identifier 0x03 SFP, 0x02 soldered): bytes 0-255 are the
//     A0h memory (I2C address 0x50), bytes 256-511 the A2h memory (0x51,
//     diagnostics). An image of 256 bytes has no diagnostics.
//   - SFF-8636 and CMIS (paged memory): bytes 0-127 are the lower page and
//     upper page N sits at 128*(N+1): page 00h at 128, 01h at 256, 02h at
//     384, 03h at 512, 11h at 2304 (bank 0). An image ends after the last
//     page read; a page the module does not have is absent or left zero.
package sff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// PageSize is the size of one half page of module memory.
const PageSize = 128

// MaxImage is the largest image Decode looks at: the lower page and upper
// pages 00h-11h. Longer input is an error, so that nothing reads unbounded
// bytes as a module.
const MaxImage = PageSize * (0x11 + 2)

// Spec is the management interface a module speaks, from its identifier.
type Spec string

const (
	SFF8472 Spec = "sff8472"
	SFF8636 Spec = "sff8636"
	CMIS    Spec = "cmis"
)

// SpecOf says which management interface a module with SFF-8024
// identifier id implements; "" for one this package does not decode.
func SpecOf(id byte) Spec {
	switch id {
	case 0x02, 0x03: // soldered to the motherboard, SFP/SFP+/SFP28
		return SFF8472
	case 0x0C, 0x0D, 0x11: // QSFP, QSFP+, QSFP28
		return SFF8636
	case 0x18, 0x19, 0x1A, 0x1B, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23:
		// QSFP-DD, OSFP, SFP-DD, DSFP, QSFP+ CMIS, SFP-DD CMIS, SFP+ CMIS,
		// OSFP-XD, OIF-ELS, CDFP: all CMIS (SFF-8024 rev 4.11 table 4-1).
		return CMIS
	}
	return ""
}

// Sensor names a monitored quantity; its value is in base units: degrees
// Celsius, volts, amperes, watts.
type Sensor string

const (
	Temperature   Sensor = "temperature"
	SupplyVoltage Sensor = "supply_voltage"
	TxBias        Sensor = "tx_bias"
	TxPower       Sensor = "tx_power"
	RxPower       Sensor = "rx_power"
)

// Sensors lists every Sensor in a fixed order.
var Sensors = []Sensor{Temperature, SupplyVoltage, TxBias, TxPower, RxPower}

// Thresholds are a module's own alarm and warning levels for one sensor,
// in the sensor's base unit.
type Thresholds struct {
	HighAlarm, HighWarning, LowWarning, LowAlarm float64
}

// Reading is one monitored value; OK is false when the module does not
// implement it.
type Reading struct {
	Value float64
	OK    bool
}

// Lane holds one optical lane's monitors (lane 1 first).
type Lane struct {
	TxBias, TxPower, RxPower Reading
}

// Module is what Decode found in an image.
type Module struct {
	Spec       Spec
	Identifier byte
	Type       string // SFF-8024 identifier name, e.g. "QSFP28"
	Connector  string // SFF-8024 connector name, e.g. "LC"
	Vendor     string
	PartNumber string
	Revision   string
	Serial     string
	// Wavelength is the nominal laser wavelength in metres; 0 when the
	// module is a copper cable or does not say.
	Wavelength float64

	// DOM is true when the module implements diagnostic monitoring and the
	// image holds its monitors.
	DOM           bool
	Temperature   Reading
	SupplyVoltage Reading
	Lanes         []Lane
	// Thresholds by sensor; a sensor whose thresholds the image does not
	// hold (no page 03h/02h, no DOM) is absent.
	Thresholds map[Sensor]Thresholds
}

// ErrUnknown is returned for an identifier Decode does not know.
var ErrUnknown = errors.New("unknown module identifier")

// Decode decodes a module image (see the package comment for its layout).
func Decode(img []byte) (Module, error) {
	if len(img) > MaxImage {
		return Module{}, fmt.Errorf("module image of %d bytes, more than %d", len(img), MaxImage)
	}
	if len(img) < 2*PageSize {
		return Module{}, fmt.Errorf("module image of %d bytes, less than the %d of the identity page", len(img), 2*PageSize)
	}
	m := Module{Identifier: img[0], Spec: SpecOf(img[0]), Type: IdentifierName(img[0])}
	switch m.Spec {
	case SFF8472:
		decode8472(img, &m)
	case SFF8636:
		decode8636(img, &m)
	case CMIS:
		decodeCMIS(img, &m)
	default:
		return Module{}, fmt.Errorf("%w 0x%02x (%s)", ErrUnknown, img[0], m.Type)
	}
	return m, nil
}

// ascii returns a space-padded ASCII field of the memory map, trimmed;
// bytes outside printable ASCII become U+FFFD so a label stays valid.
func ascii(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			sb.WriteByte(c)
		} else if c != 0 {
			sb.WriteRune(utf8.RuneError)
		}
	}
	return strings.TrimSpace(sb.String())
}

func u16(b []byte, off int) float64 { return float64(binary.BigEndian.Uint16(b[off:])) }
func s16(b []byte, off int) float64 { return float64(int16(binary.BigEndian.Uint16(b[off:]))) }

// The units of the memory maps' 16-bit monitors (SFF-8472 9.2, SFF-8636
// 6.2.4, CMIS 8.2.5): temperature in 1/256 degC signed, supply voltage in
// 100 uV, bias in 2 uA, optical power in 0.1 uW.
func celsius(raw float64) float64 { return raw / 256 }
func volts(raw float64) float64   { return raw * 100e-6 }
func amperes(raw float64) float64 { return raw * 2e-6 }
func watts(raw float64) float64   { return raw * 1e-7 }

// thresholds reads the four 16-bit thresholds at off in the order the
// three specs share (high alarm, low alarm, high warning, low warning).
func thresholds(b []byte, off int, signed bool, conv func(float64) float64) Thresholds {
	rd := u16
	if signed {
		rd = s16
	}
	return Thresholds{
		HighAlarm:   conv(rd(b, off)),
		LowAlarm:    conv(rd(b, off+2)),
		HighWarning: conv(rd(b, off+4)),
		LowWarning:  conv(rd(b, off+6)),
	}
}

// finite drops a NaN or infinity (from a garbage calibration constant),
// which no series should carry.
func finite(v float64) Reading {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Reading{}
	}
	return Reading{Value: v, OK: true}
}

func finiteThresholds(t Thresholds) bool {
	for _, v := range []float64{t.HighAlarm, t.HighWarning, t.LowWarning, t.LowAlarm} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
