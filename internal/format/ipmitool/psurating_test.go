package ipmitool

import "testing"

func ratings(frus []FRU) map[string]float64 {
	got := map[string]float64{}
	for _, f := range frus {
		if w, ok := PowerSupplyRating(f); ok {
			got[f.Name] = w
		}
	}
	return got
}

func TestPowerSupplyRatingCaptures(t *testing.T) {
	for _, c := range []struct {
		file string
		want map[string]float64
	}{
		// Dell PowerEdge R540, lines padded with blanks as published.
		{"fru_print_dell_r540.txt", map[string]float64{"PS1 (ID 1)": 750, "PS2 (ID 2)": 750}},
		// Cisco UCS C200: the rating in the product name, a stray byte after each PSU.
		{"fru_print_cisco_c200.txt", map[string]float64{"PSU1 (ID 3)": 650, "PSU2 (ID 4)": 650}},
		{"fru_print_fixture_r750.txt", map[string]float64{"PS1 (ID 1)": 1400, "PS2 (ID 2)": 1400}},
		// No PSU FRU: the board names ("ProLiant DL360 G6") state no rating.
		{"fru_print_hpe_dl360_g6.txt", map[string]float64{}},
	} {
		got := ratings(ParseFRU(readTestdata(t, c.file)))
		if len(got) != len(c.want) {
			t.Errorf("%s: ratings %v, want %v", c.file, got, c.want)
			continue
		}
		for name, w := range c.want {
			if got[name] != w {
				t.Errorf("%s: %s rated %v W, want %v", c.file, name, got[name], w)
			}
		}
	}
}

func TestPowerSupplyRatingForms(t *testing.T) {
	psu := func(field, value string) FRU {
		return FRU{Name: "PSU1 (ID 1)", Fields: map[string]string{field: value}}
	}
	for _, c := range []struct {
		fru  FRU
		want float64 // 0: no rating
	}{
		{psu("Board Product", "PWR SPLY,1400W,RDNT,LTON"), 1400},
		{psu("Board Product", "PWR SPLY,750WP,RDNT,DELTA"), 750},
		{psu("Board Product", "PWR SPLY,495W,RDNT,EMSN       "), 495},
		{psu("Product Name", "R2X0-PSU2-650W-SB"), 650},
		{psu("Product Name", "HPE 800W FS Plat Ht Plg LH Pwr Sply Kit"), 800},
		{psu("Product Name", "HP 460W CS Gold Ht Plg Pwr Supply Kit"), 460},
		{psu("Product Name", "ThinkSystem 750W Platinum"), 750},
		{psu("Product Name", "ThinkSystem 1100W (230V/115V) Platinum Hot-Swap Power Supply"), 1100},
		{psu("Product Name", "Delta 1600 W"), 1600},
		{psu("Product Name", "CRPS 2.4kW"), 2400},
		{psu("Product Name", "PWS-1K62A-1R"), 1620},
		{psu("Product Part Number", "PWS-1K28P-SQ"), 1280},
		{psu("Product Name", "PWS-920P-SQ"), 920},
		{psu("Product Name", "PWS-504P-1R"), 500},
		{psu("Board Part Number", "pws-2k04a-1r"), 2040},
		// Board Product first, then the product's name.
		{FRU{Name: "PS2 (ID 2)", Fields: map[string]string{"Product Name": "ThinkSystem 750W Platinum", "Board Product": "PWR SPLY,1100W,RDNT"}}, 1100},
		{FRU{Name: "PS2 (ID 2)", Fields: map[string]string{"Board Product": "SPLY", "Product Name": "PWR SPLY,1100W,RDNT"}}, 1100},
		// A power supply known by its product only.
		{FRU{Name: "FRU_7 (ID 7)", Fields: map[string]string{"Board Product": "PWR SPLY,1100W,RDNT,DELTA"}}, 1100},
		{FRU{Name: "powersupply0 (ID 75)", Fields: map[string]string{"Board Product": "750W"}}, 750},
		{FRU{Name: "Power Supply 2", Fields: map[string]string{"Product Name": "Gold 1200W"}}, 1200},

		// Not a PSU: a board whose name ends in W, a NIC.
		{FRU{Name: "Builtin FRU Device (ID 0)", Fields: map[string]string{"Board Product": "R200-1120402W"}}, 0},
		{FRU{Name: "NDC (ID 4)", Fields: map[string]string{"Board Product": "Broadcom 25W NIC"}}, 0},
		// A PSU whose name states no rating, or not one rating.
		{psu("Product Name", "GW-CRPS1600D2W"), 0},
		{psu("Product Name", "DPS-1200"), 0},
		{psu("Product Name", "1800W-2200W Flex Slot Ti Pwr Sply Kit"), 0},
		{psu("Product Name", "PSU 12W standby"), 0},
		{psu("Product Name", "PWR SPLY,99999W"), 0},
		{psu("Product Name", "PWR SPLY,123456W"), 0},
		{psu("Product Name", "PWR SPLY,1.5W"), 0},
		{psu("Product Name", "PWR SPLY,750Watt"), 0},
		{psu("Product Name", "PWS-0K50A"), 0},
		{psu("Product Name", "PWS-012"), 0},
		{psu("Product Name", ""), 0},
		// The same rating twice is one rating.
		{psu("Product Name", "750W PSU, 750W"), 750},
	} {
		got, ok := PowerSupplyRating(c.fru)
		if ok != (c.want != 0) || got != c.want {
			t.Errorf("PowerSupplyRating(%v) = %v, %v; want %v", c.fru, got, ok, c.want)
		}
	}
}

func FuzzPowerSupplyRating(f *testing.F) {
	for _, s := range []string{"PWR SPLY,1400W,RDNT,LTON", "PWS-1K62A-1R", "2.4kW", "650 W", "PWS-", "9.W", "1800W-2200W"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, ok := PowerSupplyRating(FRU{Name: "PS1", Fields: map[string]string{"Product Name": s}})
		if ok && (w < minRatedWatts || w > maxRatedWatts) {
			t.Fatalf("%q rated %v W, outside the bounds", s, w)
		}
		if !ok && w != 0 {
			t.Fatalf("%q: no rating but %v W", s, w)
		}
	})
}
