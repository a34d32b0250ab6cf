package ipmitool

import (
	"errors"
	"strings"
)

// ChassisStatus is what `ipmitool chassis status` says.
type ChassisStatus struct {
	PowerOn           bool
	PowerOverload     bool
	PowerInterlock    bool // "Power Interlock : active"
	MainPowerFault    bool
	PowerControlFault bool
	// PowerRestorePolicy is "always-off", "always-on", "previous" or
	// "unknown", as printed.
	PowerRestorePolicy string
	// LastPowerEvents are the causes of the last power change, any of
	// "ac-failed", "overload", "interlock", "fault", "command"; none when
	// the BMC reports none.
	LastPowerEvents   []string
	ChassisIntrusion  bool // "Chassis Intrusion : active"
	FrontPanelLockout bool
	DriveFault        bool
	CoolingFault      bool // "Cooling/Fan Fault"
	// Buttons are the front panel buttons, when the BMC reports their
	// enables ("Front Panel Control : none" reports none).
	Buttons []FrontPanelButton
}

// FrontPanelButton is one front panel button's enables.
type FrontPanelButton struct {
	Name string // "Power", "Reset", "Diag", "Sleep"
	// DisableAllowed says whether the BMC lets the button be disabled;
	// Disabled whether it is.
	DisableAllowed, Disabled bool
}

// ParseChassisStatus parses `ipmitool chassis status`. It fails only when
// the "System Power" line is missing.
func ParseChassisStatus(out []byte) (ChassisStatus, error) {
	var cs ChassisStatus
	sawPower := false
	button := func(name string) *FrontPanelButton {
		for i := range cs.Buttons {
			if cs.Buttons[i].Name == name {
				return &cs.Buttons[i]
			}
		}
		if len(cs.Buttons) >= 4 {
			return &FrontPanelButton{} // a fifth name is not a button
		}
		cs.Buttons = append(cs.Buttons, FrontPanelButton{Name: name})
		return &cs.Buttons[len(cs.Buttons)-1]
	}
	keyValues(out, func(key, value string) {
		switch key {
		case "System Power":
			cs.PowerOn, sawPower = value == "on", true
		case "Power Overload":
			cs.PowerOverload = value == "true"
		case "Power Interlock":
			cs.PowerInterlock = value == "active"
		case "Main Power Fault":
			cs.MainPowerFault = value == "true"
		case "Power Control Fault":
			cs.PowerControlFault = value == "true"
		case "Power Restore Policy":
			cs.PowerRestorePolicy = value
		case "Last Power Event":
			cs.LastPowerEvents = strings.Fields(value)
		case "Chassis Intrusion":
			cs.ChassisIntrusion = value == "active"
		case "Front-Panel Lockout":
			cs.FrontPanelLockout = value == "active"
		case "Drive Fault":
			cs.DriveFault = value == "true"
		case "Cooling/Fan Fault":
			cs.CoolingFault = value == "true"
		default:
			// "Sleep Button Disable : allowed", "Sleep Button Disabled: false"
			if name, ok := strings.CutSuffix(key, " Button Disabled"); ok && isButton(name) {
				button(name).Disabled = value == "true"
			} else if name, ok := strings.CutSuffix(key, " Button Disable"); ok && isButton(name) {
				button(name).DisableAllowed = value == "allowed"
			}
		}
	}, nil)
	if !sawPower {
		return cs, errors.New("chassis status: no System Power line")
	}
	return cs, nil
}

func isButton(name string) bool {
	return name == "Power" || name == "Reset" || name == "Diag" || name == "Sleep"
}
