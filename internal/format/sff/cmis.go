package sff

// CMIS 5.2 offsets (the lower page and page 00h: image offsets; page N:
// base + address). CMIS 4.0
// has the same layout for everything read here.
const (
	cmisStatus     = 2
	cmisFlatMem    = 1 << 7 // only page 00h
	cmisTemp       = 14
	cmisVcc        = 16
	cmisApp1       = 86 // first application descriptor: host id, media id, lane counts, assignment
	cmisVendor     = 129
	cmisPartNumber = 148
	cmisRevision   = 164
	cmisSerial     = 166
	cmisConnector  = 203
	// Upper page N's address A is at image offset PageSize*N + A.
	cmisPage1       = 1 * PageSize
	cmisWavelength  = cmisPage1 + 138 // nominal wavelength, 0.05 nm
	cmisModMonitors = cmisPage1 + 159 // bit 0 temperature, bit 1 Vcc
	cmisLaneMon     = cmisPage1 + 160 // bit 0 TX bias, bit 1 TX power, bit 2 RX power; bits 3-4 bias scale
	cmisPage2       = 2 * PageSize    // thresholds
	cmisPage11      = 0x11 * PageSize // lane monitors (bank 0)
	cmisMaxLanes    = 8
)

func decodeCMIS(img []byte, m *Module) {
	m.Connector = ConnectorName(img[cmisConnector])
	m.Vendor = ascii(img[cmisVendor : cmisVendor+16])
	m.PartNumber = ascii(img[cmisPartNumber : cmisPartNumber+16])
	m.Revision = ascii(img[cmisRevision : cmisRevision+2])
	m.Serial = ascii(img[cmisSerial : cmisSerial+16])
	paged := img[cmisStatus]&cmisFlatMem == 0
	if !paged || len(img) < cmisPage1+2*PageSize {
		// A flat module (a passive copper cable) has no page 01h: it
		// advertises no monitors, and its module monitors read 0.
		return
	}
	if w := u16(img, cmisWavelength); w != 0 {
		m.Wavelength = w * 0.05 * 1e-9
	}
	mod, lane := img[cmisModMonitors], img[cmisLaneMon]
	m.DOM = mod&0x03 != 0 || lane&0x07 != 0
	if mod&0x01 != 0 {
		m.Temperature = finite(celsius(s16(img, cmisTemp)))
	}
	if mod&0x02 != 0 {
		m.SupplyVoltage = finite(volts(u16(img, cmisVcc)))
	}
	// TxBiasCurrentScalingFactor: the bias registers count 2 uA times 1,
	// 2 or 4.
	biasScale := float64(int(1) << ((lane >> 3) & 0x03))
	if (lane>>3)&0x03 == 3 {
		biasScale = 1 // reserved
	}
	bias := func(raw float64) float64 { return amperes(raw) * biasScale }
	if len(img) >= cmisPage11+2*PageSize && lane&0x07 != 0 {
		for i := range cmisLanes(img) {
			var l Lane
			if lane&0x01 != 0 {
				l.TxBias = finite(bias(u16(img, cmisPage11+170+2*i)))
			}
			if lane&0x02 != 0 {
				l.TxPower = finite(watts(u16(img, cmisPage11+154+2*i)))
			}
			if lane&0x04 != 0 {
				l.RxPower = finite(watts(u16(img, cmisPage11+186+2*i)))
			}
			m.Lanes = append(m.Lanes, l)
		}
	}
	if len(img) < cmisPage2+2*PageSize || !m.DOM {
		return
	}
	p2 := img[cmisPage2:]
	m.Thresholds = map[Sensor]Thresholds{}
	if mod&0x01 != 0 {
		m.Thresholds[Temperature] = thresholds(p2, 128, true, celsius)
	}
	if mod&0x02 != 0 {
		m.Thresholds[SupplyVoltage] = thresholds(p2, 136, false, volts)
	}
	if lane&0x02 != 0 {
		m.Thresholds[TxPower] = thresholds(p2, 176, false, watts)
	}
	if lane&0x01 != 0 {
		m.Thresholds[TxBias] = thresholds(p2, 184, false, bias)
	}
	if lane&0x04 != 0 {
		m.Thresholds[RxPower] = thresholds(p2, 192, false, watts)
	}
}

// cmisLanes is the number of media lanes of the module's first
// application (its default); when the descriptor says nothing useful, the
// lanes its form factor has.
func cmisLanes(img []byte) int {
	if n := int(img[cmisApp1+2] & 0x0F); n >= 1 && n <= cmisMaxLanes {
		return n
	}
	switch img[0] {
	case 0x1A, 0x1F: // SFP-DD
		return 2
	case 0x1B, 0x20: // DSFP, SFP+ CMIS
		return 1
	case 0x1E: // QSFP+ CMIS
		return 4
	}
	return cmisMaxLanes
}
