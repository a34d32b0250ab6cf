package sff

// SFF-8636 rev 2.10a offsets: addresses of the lower page and upper page
// 00h are image offsets; page 03h's address A is at 384 + A.
const (
	q36Status      = 2
	q36FlatMem     = 1 << 2 // only page 00h: no page 03h thresholds
	q36Temp        = 22
	q36Vcc         = 26
	q36RxPower     = 34 // 4 lanes, 2 bytes each
	q36TxBias      = 42
	q36TxPower     = 50
	q36Connector   = 130
	q36DeviceTech  = 147 // upper nibble >= 0xA: copper
	q36Vendor      = 148
	q36PartNumber  = 168
	q36Revision    = 184
	q36Wavelength  = 186 // nm * 20
	q36Serial      = 196
	q36DiagType    = 220
	q36DiagTemp    = 1 << 5 // temperature monitoring implemented (SFF-8636 only)
	q36DiagVcc     = 1 << 4 // supply voltage monitoring implemented (SFF-8636 only)
	q36DiagTxPower = 1 << 2
	q36Page3       = 3 * PageSize // page N's address A is at image offset PageSize*N + A
	q36Lanes       = 4
)

func decode8636(img []byte, m *Module) {
	m.Connector = ConnectorName(img[q36Connector])
	m.Vendor = ascii(img[q36Vendor : q36Vendor+16])
	m.PartNumber = ascii(img[q36PartNumber : q36PartNumber+16])
	m.Revision = ascii(img[q36Revision : q36Revision+2])
	m.Serial = ascii(img[q36Serial : q36Serial+16])
	if img[q36DeviceTech]>>4 < 0xA { // optical: 186-187 are the wavelength, else copper attenuation
		m.Wavelength = u16(img, q36Wavelength) / 20 * 1e-9
	}
	diag := img[q36DiagType]
	// A passive copper cable has no monitors (they read 0). An optical
	// module has temperature, supply voltage, bias and RX power: SFF-8436,
	// which many QSFP+ modules follow, had no bits saying so, and modules
	// leave byte 220's bits 5 and 4 clear (the FS QSFP28 of the testdata).
	copper := img[q36DeviceTech]>>4 >= 0xA
	if copper && diag&(q36DiagTemp|q36DiagVcc) == 0 {
		return
	}
	m.DOM = true
	m.Temperature = finite(celsius(s16(img, q36Temp)))
	m.SupplyVoltage = finite(volts(u16(img, q36Vcc)))
	for i := range q36Lanes {
		l := Lane{
			TxBias:  finite(amperes(u16(img, q36TxBias+2*i))),
			RxPower: finite(watts(u16(img, q36RxPower+2*i))),
		}
		if diag&q36DiagTxPower != 0 {
			l.TxPower = finite(watts(u16(img, q36TxPower+2*i)))
		}
		m.Lanes = append(m.Lanes, l)
	}
	if img[q36Status]&q36FlatMem != 0 || len(img) < q36Page3+2*PageSize {
		return
	}
	p3 := img[q36Page3:]
	m.Thresholds = map[Sensor]Thresholds{
		Temperature:   thresholds(p3, 128, true, celsius),
		SupplyVoltage: thresholds(p3, 144, false, volts),
		RxPower:       thresholds(p3, 176, false, watts),
		TxBias:        thresholds(p3, 184, false, amperes),
	}
	if diag&q36DiagTxPower != 0 {
		m.Thresholds[TxPower] = thresholds(p3, 192, false, watts)
	}
}
