package sff

import (
	"encoding/binary"
	"math"
)

// SFF-8472 rev 12.4 offsets. A0h (bytes 0-255 of the image):
const (
	a0Connector   = 2
	a0Cable       = 8 // bits 2, 3: passive, active copper cable
	a0Vendor      = 20
	a0PartNumber  = 40
	a0Revision    = 56
	a0Wavelength  = 60
	a0Serial      = 68
	a0DiagType    = 92
	diagDOM       = 1 << 6 // digital diagnostic monitoring implemented
	diagExternal  = 1 << 4 // externally calibrated
	a2Base        = 256    // A2h in the image
	a2Thresholds  = 0      // temperature, Vcc, bias, TX power, RX power: 8 bytes each
	a2Calibration = 56     // external calibration constants, bytes 56-91
	a2Values      = 96     // temperature, Vcc, bias, TX power, RX power
	a2Len         = a2Values + 10
)

func decode8472(img []byte, m *Module) {
	m.Connector = ConnectorName(img[a0Connector])
	m.Vendor = ascii(img[a0Vendor : a0Vendor+16])
	m.PartNumber = ascii(img[a0PartNumber : a0PartNumber+16])
	m.Revision = ascii(img[a0Revision : a0Revision+4])
	m.Serial = ascii(img[a0Serial : a0Serial+16])
	// Bytes 60-61 are the wavelength of an optical module, the cable
	// compliance of a copper one.
	if img[a0Cable]&0x0C == 0 {
		m.Wavelength = u16(img, a0Wavelength) * 1e-9
	}
	if img[a0DiagType]&diagDOM == 0 || len(img) < a2Base+a2Len {
		return
	}
	a2 := img[a2Base:]
	cal := calibration{slopes: [4]float64{1, 1, 1, 1}, rx: [5]float64{0, 1, 0, 0, 0}}
	if img[a0DiagType]&diagExternal != 0 {
		cal = externalCalibration(a2)
	}
	m.DOM = true
	m.Temperature = finite(celsius(cal.apply(calTemp, s16(a2, a2Values))))
	m.SupplyVoltage = finite(volts(cal.apply(calVcc, u16(a2, a2Values+2))))
	m.Lanes = []Lane{{
		TxBias:  finite(amperes(cal.apply(calBias, u16(a2, a2Values+4)))),
		TxPower: finite(watts(cal.apply(calTxPower, u16(a2, a2Values+6)))),
		RxPower: finite(watts(cal.rxPower(u16(a2, a2Values+8)))),
	}}
	// The thresholds are A/D values like the monitors: an externally
	// calibrated module's need the same constants.
	conv := func(i int, f func(float64) float64) func(float64) float64 {
		return func(raw float64) float64 { return f(cal.apply(i, raw)) }
	}
	ts := map[Sensor]Thresholds{
		Temperature:   thresholds(a2, a2Thresholds, true, conv(calTemp, celsius)),
		SupplyVoltage: thresholds(a2, a2Thresholds+8, false, conv(calVcc, volts)),
		TxBias:        thresholds(a2, a2Thresholds+16, false, conv(calBias, amperes)),
		TxPower:       thresholds(a2, a2Thresholds+24, false, conv(calTxPower, watts)),
		RxPower:       thresholds(a2, a2Thresholds+32, false, func(raw float64) float64 { return watts(cal.rxPower(raw)) }),
	}
	m.Thresholds = map[Sensor]Thresholds{}
	for s, t := range ts {
		if finiteThresholds(t) {
			m.Thresholds[s] = t
		}
	}
}

// Indexes into calibration.slopes and offsets.
const (
	calBias = iota
	calTxPower
	calTemp
	calVcc
)

// calibration holds SFF-8472's external calibration constants (9.3): a
// slope and offset each for bias, TX power, temperature and Vcc, and a
// fourth-degree polynomial for RX power.
type calibration struct {
	slopes, offsets [4]float64
	rx              [5]float64 // Rx_PWR(0) .. Rx_PWR(4)
}

func externalCalibration(a2 []byte) calibration {
	var c calibration
	for i := range c.rx { // Rx_PWR(4) first, at byte 56
		c.rx[4-i] = float64(math.Float32frombits(binary.BigEndian.Uint32(a2[a2Calibration+4*i:])))
	}
	for i := range 4 { // bias, TX power, temperature, Vcc: slope (unsigned 8.8), offset (signed)
		off := a2Calibration + 20 + 4*i
		c.slopes[i] = u16(a2, off) / 256
		c.offsets[i] = s16(a2, off+2)
	}
	return c
}

func (c calibration) apply(i int, raw float64) float64 { return c.slopes[i]*raw + c.offsets[i] }

func (c calibration) rxPower(raw float64) float64 {
	v := 0.0
	for i := 4; i >= 0; i-- {
		v = v*raw + c.rx[i]
	}
	return v
}
