package sff

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func image(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, name string) Module {
	t.Helper()
	m, err := Decode(image(t, name))
	if err != nil {
		t.Fatalf("Decode(%s): %v", name, err)
	}
	return m
}

// near compares within the resolution the source printed its value with.
func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %g, want %g (±%g)", what, got, want, tol)
	}
}

func identity(t *testing.T, m Module, spec Spec, typ, connector, vendor, pn, rev, sn string, nm float64) {
	t.Helper()
	if m.Spec != spec || m.Type != typ || m.Connector != connector || m.Vendor != vendor ||
		m.PartNumber != pn || m.Revision != rev || m.Serial != sn {
		t.Errorf("identity = %s %q %q %q %q %q %q; want %s %q %q %q %q %q %q",
			m.Spec, m.Type, m.Connector, m.Vendor, m.PartNumber, m.Revision, m.Serial,
			spec, typ, connector, vendor, pn, rev, sn)
	}
	near(t, "wavelength", m.Wavelength, nm*1e-9, 1e-12)
}

// The expected values are those the origin's own tests assert
// (wobcom/go-ethtool eeprom/sff8472/eeprom_test.go), in base units.
func TestSFF8472Flexoptix(t *testing.T) {
	m := decode(t, "sff8472-flexoptix-p.b1696.10.da.bin")
	identity(t, m, SFF8472, "SFP", "LC", "FLEXOPTIX", "P.B1696.10.DA", "A", "F79B5KH", 1330)
	if !m.DOM || len(m.Lanes) != 1 {
		t.Fatalf("DOM %v, %d lanes; want DOM, 1 lane", m.DOM, len(m.Lanes))
	}
	near(t, "TX power high alarm", m.Thresholds[TxPower].HighAlarm, 1.7783e-3, 1e-9)
}

func TestSFF8472NoRxPower(t *testing.T) {
	m := decode(t, "sff8472-oem-sfp-10g-lr-no-rx.bin")
	identity(t, m, SFF8472, "SFP", "LC", "OEM", "SFP-10GB-LR", "B4", "YAOY1060", 1310)
	near(t, "temperature", m.Temperature.Value, 34.54, 0.005)
	near(t, "supply voltage", m.SupplyVoltage.Value, 3.29, 0.005)
	l := m.Lanes[0]
	near(t, "TX bias", l.TxBias.Value, 35.994e-3, 1e-9)
	if !l.RxPower.OK || l.RxPower.Value != 0 {
		t.Errorf("RX power = %+v, want 0 W (no light), present", l.RxPower)
	}
	rx := m.Thresholds[RxPower]
	near(t, "RX high warning", rx.HighWarning, 1e-3, 1e-10)
	near(t, "RX low alarm", rx.LowAlarm, 0.0158e-3, 1e-10)
	near(t, "RX low warning", rx.LowWarning, 0.0316e-3, 1e-10)
}

// A direct attach cable: identity, no DOM, no wavelength (bytes 60-61 are
// its cable compliance), no series beyond the info.
func TestSFF8472NoDOM(t *testing.T) {
	m := decode(t, "sff8472-brocade-dac-no-dom.bin")
	identity(t, m, SFF8472, "SFP", "unknown", "BROCADE", "57-1000042-02", "", "F78TVUM", 0)
	if m.DOM || len(m.Lanes) != 0 || len(m.Thresholds) != 0 || m.Temperature.OK {
		t.Errorf("DAC without DOM decoded monitors: %+v", m)
	}
	// A module with DOM but an image cut before A2h: identity only.
	m2, err := Decode(image(t, "sff8472-flexoptix-p.b1696.10.da.bin")[:256])
	if err != nil || m2.DOM || m2.Vendor != "FLEXOPTIX" {
		t.Errorf("A0h only: DOM %v vendor %q err %v; want identity without DOM", m2.DOM, m2.Vendor, err)
	}
}

// External calibration (written here from the FLEXOPTIX capture, see
// testdata/gen.go): slope and offset on bias, TX power and temperature,
// the polynomial on RX power, applied to values and thresholds alike.
func TestSFF8472ExternalCalibration(t *testing.T) {
	in := decode(t, "sff8472-flexoptix-p.b1696.10.da.bin")
	ex := decode(t, "sff8472-external-calibration.bin")
	near(t, "temperature", ex.Temperature.Value, in.Temperature.Value-2, 1e-9)
	near(t, "voltage", ex.SupplyVoltage.Value, in.SupplyVoltage.Value, 1e-9)
	near(t, "bias", ex.Lanes[0].TxBias.Value, 2*in.Lanes[0].TxBias.Value, 1e-12)
	near(t, "TX power", ex.Lanes[0].TxPower.Value, in.Lanes[0].TxPower.Value+10e-6, 1e-12)
	near(t, "RX power", ex.Lanes[0].RxPower.Value, 0.5*in.Lanes[0].RxPower.Value+1e-6, 1e-12)
	near(t, "temperature high alarm", ex.Thresholds[Temperature].HighAlarm, in.Thresholds[Temperature].HighAlarm-2, 1e-9)
	near(t, "bias high warning", ex.Thresholds[TxBias].HighWarning, 2*in.Thresholds[TxBias].HighWarning, 1e-12)
	near(t, "RX low warning", ex.Thresholds[RxPower].LowWarning, 0.5*in.Thresholds[RxPower].LowWarning+1e-6, 1e-12)
}

func TestSFF8472RxBelowAlarm(t *testing.T) {
	m := decode(t, "sff8472-rx-low-alarm.bin")
	if rx, th := m.Lanes[0].RxPower.Value, m.Thresholds[RxPower]; !(rx < th.LowAlarm && th.LowAlarm < th.LowWarning) {
		t.Errorf("RX %g, thresholds %+v; want RX below the low alarm", rx, th)
	}
}

// Values asserted by wobcom/go-ethtool eeprom/sff8636/eeprom_test.go.
func TestSFF8636QSFP28(t *testing.T) {
	m := decode(t, "sff8636-fs-qsfp28-ir4.bin")
	identity(t, m, SFF8636, "QSFP28", "LC", "FS", "QSFP28-IR4-100G", "A1", "C1812155461", 1302.35)
	if !m.DOM || len(m.Lanes) != 4 {
		t.Fatalf("DOM %v, %d lanes; want DOM, 4 lanes", m.DOM, len(m.Lanes))
	}
	near(t, "lane 1 bias", m.Lanes[0].TxBias.Value, 34.432e-3, 1e-9)
	b := m.Thresholds[TxBias]
	near(t, "bias high alarm", b.HighAlarm, 75e-3, 1e-9)
	near(t, "bias low alarm", b.LowAlarm, 10e-3, 1e-9)
	near(t, "bias high warning", b.HighWarning, 70e-3, 1e-9)
	near(t, "bias low warning", b.LowWarning, 15e-3, 1e-9)
	if len(m.Thresholds) != 5 {
		t.Errorf("%d threshold sensors, want 5", len(m.Thresholds))
	}
	// Without page 03h (a 256-byte image): monitors, no thresholds.
	m2, err := Decode(image(t, "sff8636-fs-qsfp28-ir4.bin")[:256])
	if err != nil || len(m2.Lanes) != 4 || len(m2.Thresholds) != 0 {
		t.Errorf("lower+page 00h: %d lanes, %d thresholds, err %v; want 4, 0", len(m2.Lanes), len(m2.Thresholds), err)
	}
}

func TestSFF8636CopperCable(t *testing.T) {
	m := decode(t, "sff8636-fs-qsfp-dac.bin")
	identity(t, m, SFF8636, "QSFP+", "no separable connector", "FS", "Q28-PCxx", "A2", "C1907253451-2", 0)
	if m.DOM || len(m.Lanes) != 0 {
		t.Errorf("passive copper cable decoded monitors: %+v", m)
	}
}

// The values `ethtool -m` printed for an Arista QDD-400G-XDR4 (netdev,
// 2024-10-15; encoded into pages by testdata/gen.go).
func TestCMIS(t *testing.T) {
	m := decode(t, "cmis-arista-qdd-400g-xdr4.bin")
	identity(t, m, CMIS, "QSFP-DD", "MPO 1x12", "Arista Networks", "QDD-400G-XDR4", "41", "XKT242211481", 1311)
	near(t, "temperature", m.Temperature.Value, 70.49, 0.005)
	near(t, "supply voltage", m.SupplyVoltage.Value, 3.2186, 1e-4)
	if len(m.Lanes) != 4 {
		t.Fatalf("%d lanes, want the 4 media lanes of 400GBASE-DR4", len(m.Lanes))
	}
	for i, want := range []struct{ bias, tx, rx float64 }{
		{83.806, 1.5975, 2.2489}, {81.878, 1.6486, 1.8629}, {72.900, 1.6333, 1.8427}, {110.100, 1.4387, 1.8215},
	} {
		l := m.Lanes[i]
		near(t, "bias", l.TxBias.Value, want.bias*1e-3, 1e-9)
		near(t, "TX power", l.TxPower.Value, want.tx*1e-3, 1e-10)
		near(t, "RX power", l.RxPower.Value, want.rx*1e-3, 1e-10)
	}
	want := map[Sensor]Thresholds{
		Temperature:   {HighAlarm: 75, HighWarning: 70, LowWarning: 0, LowAlarm: -5},
		SupplyVoltage: {HighAlarm: 3.63, HighWarning: 3.465, LowWarning: 3.135, LowAlarm: 3.05},
		TxBias:        {HighAlarm: 130e-3, HighWarning: 125e-3, LowWarning: 15e-3, LowAlarm: 10e-3},
		TxPower:       {HighAlarm: 3.5481e-3, HighWarning: 2.8184e-3, LowWarning: 0.5129e-3, LowAlarm: 0.4074e-3},
		RxPower:       {HighAlarm: 3.5481e-3, HighWarning: 2.8184e-3, LowWarning: 0.2042e-3, LowAlarm: 0.1288e-3},
	}
	for s, w := range want {
		g := m.Thresholds[s]
		for _, c := range []struct {
			level     string
			got, want float64
		}{{"high alarm", g.HighAlarm, w.HighAlarm}, {"high warning", g.HighWarning, w.HighWarning},
			{"low warning", g.LowWarning, w.LowWarning}, {"low alarm", g.LowAlarm, w.LowAlarm}} {
			near(t, string(s)+" "+c.level, c.got, c.want, math.Abs(c.want)*1e-6+1e-9)
		}
	}
}

// The TX bias scaling factor of page 01h multiplies bias values and
// thresholds; a flat module (copper) has identity only.
func TestCMISBiasScaleAndFlat(t *testing.T) {
	img := image(t, "cmis-arista-qdd-400g-xdr4.bin")
	scaled := append([]byte(nil), img...)
	scaled[cmisLaneMon] |= 1 << 3 // x2
	m, err := Decode(scaled)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "scaled bias", m.Lanes[0].TxBias.Value, 2*83.806e-3, 1e-9)
	near(t, "scaled bias high alarm", m.Thresholds[TxBias].HighAlarm, 260e-3, 1e-9)

	// No usable application descriptor: the form factor's lanes (QSFP-DD: 8).
	noApp := append([]byte(nil), img...)
	noApp[cmisApp1+2] = 0
	if m, err := Decode(noApp); err != nil || len(m.Lanes) != 8 {
		t.Errorf("no application: %d lanes, %v; want 8", len(m.Lanes), err)
	}

	flat := append([]byte(nil), img[:256]...)
	flat[cmisStatus] |= cmisFlatMem
	m, err = Decode(flat)
	if err != nil || m.DOM || len(m.Lanes) != 0 || m.Vendor != "Arista Networks" {
		t.Errorf("flat CMIS: %+v, %v; want identity only", m, err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, img := range map[string][]byte{
		"empty":   nil,
		"short":   make([]byte, 255),
		"long":    make([]byte, MaxImage+1),
		"unknown": append([]byte{0x0E}, make([]byte, 255)...), // CXP: not decoded here
	} {
		if _, err := Decode(img); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Decode(append([]byte{0x0E}, make([]byte, 255)...)); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown identifier: %v, want ErrUnknown", err)
	}
}

// FuzzDecode: any bytes decode or fail without a panic, into valid UTF-8
// identity strings no longer than their fields and finite values.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.bin")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		for _, s := range []string{m.Vendor, m.PartNumber, m.Revision, m.Serial} {
			if len(s) > 16*3 {
				t.Fatalf("identity string of %d bytes", len(s))
			}
		}
		vals := []Reading{m.Temperature, m.SupplyVoltage}
		for _, l := range m.Lanes {
			vals = append(vals, l.TxBias, l.TxPower, l.RxPower)
		}
		for _, v := range vals {
			if v.OK && (math.IsNaN(v.Value) || math.IsInf(v.Value, 0)) {
				t.Fatalf("non-finite reading %v", v)
			}
		}
		for s, th := range m.Thresholds {
			if !finiteThresholds(th) {
				t.Fatalf("non-finite %s thresholds %+v", s, th)
			}
		}
		if len(m.Lanes) > cmisMaxLanes {
			t.Fatalf("%d lanes", len(m.Lanes))
		}
	})
}

// BenchmarkDecodeCMIS decodes the largest image, a QSFP-DD's five pages.
func BenchmarkDecodeCMIS(b *testing.B) {
	img := image(b, "cmis-arista-qdd-400g-xdr4.bin")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(img); err != nil {
			b.Fatal(err)
		}
	}
}
