package ipmitool

import (
	"strconv"
	"strings"
)

// psuRatingFields are the FRU fields read for a power supply's rating, in
// order: Dell puts its "PWR SPLY,1400W,RDNT,LTON" in the board area,
// Cisco, HPE and Lenovo name the supply in the product area, Supermicro
// often only its model number ("PWS-1K62A-1R") in a part number.
var psuRatingFields = []string{"Board Product", "Product Name", "Product Part Number", "Board Part Number"}

// Bounds of a believable PSU rating: below, a number followed by W is
// not a server PSU's capacity; above, a typo or a hostile string.
const (
	minRatedWatts = 50
	maxRatedWatts = 20000
)

// PowerSupplyRating is the output capacity in watts that a power supply's
// FRU states in its name or part number. ok is false when the FRU is not a
// power supply (neither its description nor its product says so) or when
// no field states a capacity in a form known here:
//
//   - a whole number of watts, as its own token: "PWR SPLY,1400W,RDNT,LTON"
//     (Dell; "750WP" with a one-letter grade too), "R2X0-PSU2-650W-SB"
//     (Cisco), "HPE 800W FS Plat Ht Plg LH Pwr Sply Kit", "ThinkSystem 750W
//     Platinum" (Lenovo); or in kilowatts: "2.4kW";
//   - a Supermicro model, "PWS-" then three digits of which the first two
//     are tens of watts ("PWS-920P-SQ" 920 W, "PWS-504P-1R" 500 W), or a
//     digit, "K" and two digits of tens of watts ("PWS-1K62A-1R" 1620 W,
//     "PWS-1K28P-SQ" 1280 W). Supermicro's last digit is sometimes a
//     revision, so this reads up to 1% high ("1K62" is sold as 1600 W).
//
// A field that states two different capacities ("1800W-2200W", a rating
// per input voltage) states none. The first field of Board Product,
// Product Name, Product Part Number, Board Part Number that states one
// wins. Many supplies deliver less at low-line input (100–127 V) than
// their name says; the name states the high-line rating.
func PowerSupplyRating(f FRU) (watts float64, ok bool) {
	if !isPowerSupply(f) {
		return 0, false
	}
	for _, k := range psuRatingFields {
		if w, ok := ratingOf(f.Fields[k]); ok {
			return w, true
		}
	}
	return 0, false
}

// IsPowerSupply reports whether the FRU describes a power supply
// (isPowerSupply).
func IsPowerSupply(f FRU) bool { return isPowerSupply(f) }

// isPowerSupply reports whether the FRU's description ("PS1 (ID 1)",
// "PSU1_FRU", "powersupply0", "Power Supply 2") or its product says it is
// a power supply.
func isPowerSupply(f FRU) bool {
	name, _, _ := strings.Cut(f.Name, "(")
	for _, w := range words(name) {
		switch strings.TrimRight(w, "0123456789") {
		case "ps", "psu", "pws", "supply", "powersupply":
			return true
		}
	}
	for _, k := range []string{"Board Product", "Product Name"} {
		v := strings.ToLower(f.Fields[k])
		if strings.Contains(v, "pwr sply") || strings.Contains(v, "power supply") ||
			strings.Contains(v, "pwr supply") || strings.HasPrefix(v, "pws-") {
			return true
		}
	}
	return false
}

// words splits lower-cased s at every byte that is not a letter or digit.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9')
	})
}

// ratingOf reads the one capacity a field states.
func ratingOf(s string) (float64, bool) {
	if len(s) > MaxLineLength {
		return 0, false
	}
	if w, ok := supermicroRating(s); ok {
		return w, true
	}
	var found float64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || i > 0 && (isDigit(s[i-1]) || s[i-1] == '.' || isLetter(s[i-1])) {
			continue
		}
		w, ok := wattsAt(s[i:])
		if !ok {
			continue
		}
		if found != 0 && w != found {
			return 0, false
		}
		found = w
	}
	return found, found != 0
}

// wattsAt reads "1400W", "750WP", "650 W", "2.4kW" at the start of s:
// digits, an optional fraction for kilowatts, an optional blank, the unit,
// at most one grade letter, then the end of the token.
func wattsAt(s string) (float64, bool) {
	n := 0
	for n < len(s) && n < 6 && isDigit(s[n]) {
		n++
	}
	if n == 0 || n > 5 {
		return 0, false
	}
	num, rest := s[:n], s[n:]
	if len(rest) > 1 && rest[0] == '.' && isDigit(rest[1]) {
		m := 1
		for m < len(rest) && m < 4 && isDigit(rest[m]) {
			m++
		}
		num, rest = s[:n+m], rest[m:]
	}
	rest = strings.TrimPrefix(rest, " ")
	scale := 1.0
	switch {
	case len(rest) >= 2 && (rest[0] == 'k' || rest[0] == 'K') && rest[1] == 'W':
		scale, rest = 1000, rest[2:]
	case len(rest) >= 1 && rest[0] == 'W':
		rest = rest[1:]
		if strings.Contains(num, ".") {
			return 0, false // "1.5W" is no PSU
		}
	default:
		return 0, false
	}
	if len(rest) > 0 && isLetter(rest[0]) {
		rest = rest[1:] // a grade: Dell's "750WP"
	}
	if len(rest) > 0 && (isLetter(rest[0]) || isDigit(rest[0])) {
		return 0, false // a word that merely starts like a rating
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false
	}
	v *= scale
	if v < minRatedWatts || v > maxRatedWatts {
		return 0, false
	}
	return v, true
}

// supermicroRating reads a Supermicro model number, "PWS-" followed by
// "dKdd" (thousands, then tens of watts) or "ddd" (tens of watts, then a
// revision digit), each followed by a letter or the end.
func supermicroRating(s string) (float64, bool) {
	// Not strings.ToUpper: on invalid UTF-8 it changes byte offsets.
	i := 0
	for ; i+4 <= len(s); i++ {
		if (s[i] == 'P' || s[i] == 'p') && (s[i+1] == 'W' || s[i+1] == 'w') && (s[i+2] == 'S' || s[i+2] == 's') && s[i+3] == '-' {
			break
		}
	}
	if i+4 > len(s) {
		return 0, false
	}
	c := s[i+4:]
	end := func(n int) bool { return len(c) == n || !isDigit(c[n]) }
	switch {
	case len(c) >= 4 && isDigit(c[0]) && (c[1] == 'K' || c[1] == 'k') && isDigit(c[2]) && isDigit(c[3]) && end(4):
		return float64(int(c[0]-'0')*1000 + int(c[2]-'0')*100 + int(c[3]-'0')*10), c[0] != '0'
	case len(c) >= 3 && isDigit(c[0]) && isDigit(c[1]) && isDigit(c[2]) && end(3):
		w := float64(int(c[0]-'0')*100 + int(c[1]-'0')*10)
		return w, w >= minRatedWatts
	}
	return 0, false
}

func isDigit(b byte) bool  { return b >= '0' && b <= '9' }
func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
