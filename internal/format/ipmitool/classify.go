package ipmitool

import "strings"

// Kind is what an event is about, from a fixed set so that it can be a
// label. Classify documents how each is recognised.
type Kind string

const (
	KindCorrectableECC    Kind = "correctable_ecc"
	KindUncorrectableECC  Kind = "uncorrectable_ecc"
	KindMachineCheck      Kind = "machine_check"
	KindBusError          Kind = "bus_error"
	KindPSUFailure        Kind = "psu_failure"
	KindPSURedundancyLost Kind = "psu_redundancy_lost"
	KindFanFailure        Kind = "fan_failure"
	KindTemperature       Kind = "temperature"
	KindVoltage           Kind = "voltage"
	KindDriveFailure      Kind = "drive_failure"
	KindIntrusion         Kind = "intrusion"
	KindLogCleared        Kind = "log_cleared"
	KindLogFull           Kind = "log_full"
	KindOther             Kind = "other"
)

// Kinds lists every Kind, for callers that pre-declare series.
var Kinds = []Kind{
	KindCorrectableECC, KindUncorrectableECC, KindMachineCheck, KindBusError,
	KindPSUFailure, KindPSURedundancyLost, KindFanFailure, KindTemperature,
	KindVoltage, KindDriveFailure, KindIntrusion, KindLogCleared, KindLogFull, KindOther,
}

// Severity says how much an event matters.
type Severity string

const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// rule matches an event whose description starts with prefix (compared
// without case, so "General Chassis intrusion ()" and Supermicro's
// "Correctable ECC (Correctable ECC | Bank 2DIMM A)" match) and, when
// types is not empty, whose sensor type is one of them.
type rule struct {
	prefix   string
	types    []string
	kind     Kind
	severity Severity
}

var (
	psuTypes  = []string{"Power Supply", "Power Unit"}
	fanTypes  = []string{"Fan", "Cooling Device"}
	tempTypes = []string{"Temperature"}
	voltTypes = []string{"Voltage", "Current"}
)

// rules is the classification table, first match wins. Descriptions are
// ipmitool's texts for the IPMI 2.0 event offsets (table 42-3, ipmitool's
// include/ipmitool/ipmi_sel.h); vendors append detail in parentheses.
//
//	description starts with                      sensor type            kind                 severity
//	Uncorrectable ECC, Parity                    any                    uncorrectable_ecc    critical
//	Memory Scrub Failed, Memory Device Disabled  any                    uncorrectable_ecc    critical
//	Correctable ECC (incl. logging limit)        any                    correctable_ecc      warning
//	Correctable memory error logging disabled    any                    correctable_ecc      warning
//	Uncorrectable machine check exception, IERR,
//	  SM BIOS Uncorrectable CPU-complex Error,
//	  FRB1/FRB2/FRB3 failures                    any                    machine_check        critical
//	Correctable machine check error              any                    machine_check        warning
//	PCI PERR, PCI SERR, Bus Uncorrectable error,
//	  Bus Fatal Error, Fatal NMI                 any                    bus_error            critical
//	Bus Correctable error, Bus Degraded          any                    bus_error            warning
//	Thermal Trip, Critical Overtemperature       any                    temperature          critical
//	Failure detected, Power Supply AC lost,
//	  AC lost, Soft-power control failure        Power Supply/Unit      psu_failure          critical
//	Predictive failure, AC out-of-range,
//	  Config Error, Power Supply Inactive        Power Supply/Unit      psu_failure          warning
//	Redundancy Lost, Non-Redundant: Insufficient Power Supply/Unit      psu_redundancy_lost  critical
//	Redundancy Degraded, Non-Redundant: Sufficient Power Supply/Unit    psu_redundancy_lost  warning
//	Redundancy Lost/Degraded, Non-Redundant      Fan, Cooling Device    fan_failure          warning
//	Lower/Upper Critical or Non-recoverable      Fan, Cooling Device    fan_failure          critical
//	Lower/Upper Non-critical                     Fan, Cooling Device    fan_failure          warning
//	Failure detected, Transition to Critical     Fan, Cooling Device    fan_failure          critical
//	... Critical / Non-recoverable thresholds    Temperature            temperature          critical
//	... Non-critical thresholds                  Temperature            temperature          warning
//	... Critical / Non-recoverable thresholds    Voltage, Current       voltage              critical
//	... Non-critical thresholds                  Voltage, Current       voltage              warning
//	Drive Fault, In Failed Array                 any                    drive_failure        critical
//	Predictive Failure, In Critical Array,
//	  Rebuild Aborted                            Drive Slot / Bay       drive_failure        warning
//	General Chassis intrusion, Drive Bay, I/O
//	  Card area, Processor area, FAN area
//	  intrusion                                  any                    intrusion            warning
//	Log area reset/cleared                       any                    log_cleared          info
//	Log full, Log almost full                    any                    log_full             warning
//	Linux kernel panic                           (OEM record f0)        other                critical
//	any other Critical / Non-recoverable
//	  threshold, Transition to Critical/
//	  Non-recoverable                            any                    other                critical
//	any other Non-critical threshold, Predictive
//	  Failure Asserted, Transition to Non-critical any                  other                warning
//	anything else                                any                    other                info
//
// A deasserted event (the condition went away) is always info; its kind
// stays, so a count by kind and direction shows both edges.
var rules = []rule{
	{"Uncorrectable ECC", nil, KindUncorrectableECC, SeverityCritical},
	{"Parity", nil, KindUncorrectableECC, SeverityCritical},
	{"Memory Scrub Failed", nil, KindUncorrectableECC, SeverityCritical},
	{"Memory Device Disabled", nil, KindUncorrectableECC, SeverityCritical},
	{"Correctable ECC", nil, KindCorrectableECC, SeverityWarning},
	{"Correctable memory error logging disabled", nil, KindCorrectableECC, SeverityWarning},
	{"Uncorrectable machine check exception", nil, KindMachineCheck, SeverityCritical},
	{"IERR", nil, KindMachineCheck, SeverityCritical},
	{"SM BIOS Uncorrectable CPU-complex Error", nil, KindMachineCheck, SeverityCritical},
	{"FRB1/BIST failure", nil, KindMachineCheck, SeverityCritical},
	{"FRB2/Hang in POST failure", nil, KindMachineCheck, SeverityCritical},
	{"FRB3/Processor startup/init failure", nil, KindMachineCheck, SeverityCritical},
	{"Correctable machine check error", nil, KindMachineCheck, SeverityWarning},
	{"PCI PERR", nil, KindBusError, SeverityCritical},
	{"PCI SERR", nil, KindBusError, SeverityCritical},
	{"Bus Uncorrectable error", nil, KindBusError, SeverityCritical},
	{"Bus Fatal Error", nil, KindBusError, SeverityCritical},
	{"Fatal NMI", nil, KindBusError, SeverityCritical},
	{"Bus Correctable error", nil, KindBusError, SeverityWarning},
	{"Bus Degraded", nil, KindBusError, SeverityWarning},
	{"Thermal Trip", nil, KindTemperature, SeverityCritical},
	{"Critical Overtemperature", nil, KindTemperature, SeverityCritical},

	{"Failure detected", psuTypes, KindPSUFailure, SeverityCritical},
	{"Power Supply AC lost", psuTypes, KindPSUFailure, SeverityCritical},
	{"AC lost or out-of-range", psuTypes, KindPSUFailure, SeverityCritical},
	{"AC lost", psuTypes, KindPSUFailure, SeverityCritical},
	{"Soft-power control failure", psuTypes, KindPSUFailure, SeverityCritical},
	{"Predictive failure", psuTypes, KindPSUFailure, SeverityWarning},
	{"AC out-of-range", psuTypes, KindPSUFailure, SeverityWarning},
	{"Config Error", psuTypes, KindPSUFailure, SeverityWarning},
	{"Power Supply Inactive", psuTypes, KindPSUFailure, SeverityWarning},
	{"Redundancy Lost", psuTypes, KindPSURedundancyLost, SeverityCritical},
	{"Non-Redundant: Insufficient", psuTypes, KindPSURedundancyLost, SeverityCritical},
	{"Redundancy Degraded", psuTypes, KindPSURedundancyLost, SeverityWarning},
	{"Non-Redundant: Sufficient", psuTypes, KindPSURedundancyLost, SeverityWarning},

	{"Redundancy Lost", fanTypes, KindFanFailure, SeverityWarning},
	{"Redundancy Degraded", fanTypes, KindFanFailure, SeverityWarning},
	{"Non-Redundant", fanTypes, KindFanFailure, SeverityWarning},
	{"Failure detected", fanTypes, KindFanFailure, SeverityCritical},
	{"Transition to Critical", fanTypes, KindFanFailure, SeverityCritical},
	{"Transition to Non-recoverable", fanTypes, KindFanFailure, SeverityCritical},

	{"Drive Fault", nil, KindDriveFailure, SeverityCritical},
	{"In Failed Array", nil, KindDriveFailure, SeverityCritical},
	{"Predictive Failure", []string{"Drive Slot / Bay", "Drive Slot"}, KindDriveFailure, SeverityWarning},
	{"In Critical Array", nil, KindDriveFailure, SeverityWarning},
	{"Rebuild Aborted", nil, KindDriveFailure, SeverityWarning},

	{"General Chassis intrusion", nil, KindIntrusion, SeverityWarning},
	{"Drive Bay intrusion", nil, KindIntrusion, SeverityWarning},
	{"I/O Card area intrusion", nil, KindIntrusion, SeverityWarning},
	{"Processor area intrusion", nil, KindIntrusion, SeverityWarning},
	{"FAN area intrusion", nil, KindIntrusion, SeverityWarning},

	{"Log area reset/cleared", nil, KindLogCleared, SeverityInfo},
	{"Log full", nil, KindLogFull, SeverityWarning},
	{"Log almost full", nil, KindLogFull, SeverityWarning},
	{"Linux kernel panic", nil, KindOther, SeverityCritical},
}

// Classify maps a sensor type (as Event.SensorType) and an event
// description to a kind and a severity, using the table above. asserted
// is false for a deasserted event, which is info.
func Classify(sensorType, description string, asserted bool) (Kind, Severity) {
	kind, severity := classify(sensorType, description)
	if !asserted {
		severity = SeverityInfo
	}
	return kind, severity
}

func classify(sensorType, description string) (Kind, Severity) {
	for _, r := range rules {
		if !hasPrefixFold(description, r.prefix) {
			continue
		}
		if len(r.types) > 0 && !containsString(r.types, sensorType) {
			continue
		}
		return r.kind, r.severity
	}
	// Thresholds and severity states apply to any sensor type; the type
	// says what they are about.
	severity, isLevel := levelSeverity(description)
	if !isLevel {
		return KindOther, SeverityInfo
	}
	switch {
	case containsString(fanTypes, sensorType):
		return KindFanFailure, severity
	case containsString(tempTypes, sensorType):
		return KindTemperature, severity
	case containsString(voltTypes, sensorType):
		return KindVoltage, severity
	}
	return KindOther, severity
}

// levelSeverity reads the threshold events ("Lower Critical going low")
// and the generic severity states ("Transition to Critical from less
// severe", "Predictive Failure Asserted", "Limit Exceeded").
func levelSeverity(description string) (Severity, bool) {
	d := description
	if rest, ok := cutPrefixFold(d, "Transition to "); ok {
		switch {
		case hasPrefixFold(rest, "Non-recoverable"), hasPrefixFold(rest, "Critical"):
			return SeverityCritical, true
		case hasPrefixFold(rest, "Non-critical"):
			return SeverityWarning, true
		}
		return "", false
	}
	if hasPrefixFold(d, "Predictive Failure Asserted") || hasPrefixFold(d, "Limit Exceeded") {
		return SeverityWarning, true
	}
	rest, ok := cutPrefixFold(d, "Lower ")
	if !ok {
		rest, ok = cutPrefixFold(d, "Upper ")
	}
	if !ok {
		return "", false
	}
	switch {
	case hasPrefixFold(rest, "Non-critical"):
		return SeverityWarning, true
	case hasPrefixFold(rest, "Critical"), hasPrefixFold(rest, "Non-recoverable"):
		return SeverityCritical, true
	}
	return "", false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if !hasPrefixFold(s, prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
