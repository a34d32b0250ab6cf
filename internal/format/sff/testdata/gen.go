//go:build ignore

// gen writes the module images of this directory that are not captures:
// a CMIS image encoded from the values `ethtool -m` printed for a real
// module (see README.md), and edge cases derived from the captures.
// Run from the package directory: go run ./testdata/gen.go
package main

import (
	"encoding/binary"
	"math"
	"os"
)

func put16(b []byte, off int, v int) { binary.BigEndian.PutUint16(b[off:], uint16(int16(v))) }

func putU16(b []byte, off int, v uint16) { binary.BigEndian.PutUint16(b[off:], v) }

func thresholds(b []byte, off int, ha, la, hw, lw int) {
	put16(b, off, ha)
	put16(b, off+2, la)
	put16(b, off+4, hw)
	put16(b, off+6, lw)
}

// arista is the Arista QDD-400G-XDR4 (CMIS 4.0) whose `ethtool -m` output
// Daniel Zahka posted to netdev on 2024-10-15, encoded back into CMIS
// pages 00h (lower and upper), 01h, 02h and 11h. rx gives lane 1's RX
// power in 0.1 uW.
func arista(rx1 uint16) []byte {
	img := make([]byte, 128*(0x11+2))
	img[0], img[1], img[2], img[3] = 0x18, 0x40, 0x00, 0x03<<1  // QSFP-DD, CMIS 4.0, paged, ModuleReady
	putU16(img, 14, 18045)                                      // 70.49 degC
	putU16(img, 16, 32186)                                      // 3.2186 V
	img[85] = 0x02                                              // SMF media
	img[86], img[87], img[88], img[89] = 0x11, 0x1C, 0x84, 0x01 // 400GAUI-8, 400GBASE-DR4, 8 host / 4 media lanes
	img[90] = 0xFF                                              // end of the application list
	up := img[128:]
	up[0] = 0x18
	copy(up[1:17], "Arista Networks ")
	copy(up[17:20], []byte{0x00, 0x1c, 0x73})
	copy(up[20:36], "QDD-400G-XDR4   ")
	copy(up[36:38], "41")
	copy(up[38:54], "XKT242211481    ")
	copy(up[54:62], "240531  ")
	up[200-128], up[201-128] = 0x80, 40 // power class 5, 10 W
	up[203-128] = 0x0C                  // MPO 1x12
	p1 := img[1*128:]                   // page N: address A at 128*N + A
	putU16(p1, 138, 26220)              // 1311.000 nm
	putU16(p1, 140, 1300)               // 6.5 nm tolerance
	p1[159], p1[160] = 0x03, 0x07
	p2 := img[2*128:]
	thresholds(p2, 128, 19200, -1280, 17920, 0)
	thresholds(p2, 136, 36300, 30500, 34650, 31350)
	thresholds(p2, 176, 35481, 4074, 28184, 5129)
	thresholds(p2, 184, 65000, 5000, 62500, 7500)
	thresholds(p2, 192, 35481, 1288, 28184, 2042)
	p11 := img[0x11*128:]
	for i, v := range []uint16{15975, 16486, 16333, 14387} {
		putU16(p11, 154+2*i, v)
	}
	for i, v := range []uint16{41903, 40939, 36450, 55050} {
		putU16(p11, 170+2*i, v)
	}
	for i, v := range []uint16{rx1, 18629, 18427, 18215} {
		putU16(p11, 186+2*i, v)
	}
	return img
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func main() {
	must(os.WriteFile("testdata/cmis-arista-qdd-400g-xdr4.bin", arista(22489), 0o644))
	// The same module with lane 1's RX power at 0.15 mW, below its low
	// warning (0.2042 mW) and above its low alarm (0.1288 mW).
	must(os.WriteFile("testdata/cmis-arista-qdd-400g-xdr4-rx-low.bin", arista(1500), 0o644))

	flex, err := os.ReadFile("testdata/sff8472-flexoptix-p.b1696.10.da.bin")
	must(err)

	// External calibration: the FLEXOPTIX image with byte 92 saying
	// "externally calibrated" and constants that double the bias, take
	// 2 degC off the temperature, add 10 uW to TX power and map RX power
	// through 0.5*x + 10 (0.1 uW units).
	ext := append([]byte(nil), flex...)
	ext[92] = 0x58
	a2 := ext[256:]
	for i := range 5 { // Rx_PWR(4)..Rx_PWR(0)
		binary.BigEndian.PutUint32(a2[56+4*i:], math.Float32bits([]float32{0, 0, 0, 0.5, 10}[i]))
	}
	putU16(a2, 76, 0x0200) // Tx_I slope 2.0
	put16(a2, 78, 0)
	putU16(a2, 80, 0x0100) // Tx_PWR slope 1.0
	put16(a2, 82, 100)     // +10 uW
	putU16(a2, 84, 0x0100) // T slope 1.0
	put16(a2, 86, -512)    // -2 degC
	putU16(a2, 88, 0x0100) // V slope 1.0
	put16(a2, 90, 0)
	must(os.WriteFile("testdata/sff8472-external-calibration.bin", ext, 0o644))

	// Alarms set: the FLEXOPTIX image with RX power one step below its
	// low alarm threshold and the RX power low alarm and warning flags
	// (A2h byte 113 bit 6, byte 117 bit 6) raised.
	low := append([]byte(nil), flex...)
	a2 = low[256:]
	la := binary.BigEndian.Uint16(a2[34:])
	putU16(a2, 104, la-1)
	a2[113] |= 1 << 6
	a2[117] |= 1 << 6
	must(os.WriteFile("testdata/sff8472-rx-low-alarm.bin", low, 0o644))
}
