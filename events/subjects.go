package events

import (
	"strings"
)

// Subjects. Every fieldsync subject has four tokens:
//
//	fieldsync.<tenant>.changes.<record_type>   one per committed change
//	fieldsync.<tenant>.alerts.<kind>           one per alert raised
//
// <record_type> is the short name of the record's message (fieldsync.v1.Visit
// becomes Visit), because NATS uses dots to separate tokens. Every token is
// made safe with Token.
const (
	// SubjectRoot is the first token of every fieldsync subject.
	SubjectRoot = "fieldsync"

	// ChangesStream stores change events, subjects AllChanges.
	ChangesStream = "FIELDSYNC_CHANGES"
	// AlertsStream stores alert events, subjects AllAlerts.
	AlertsStream = "FIELDSYNC_ALERTS"

	// AllChanges matches the change subjects of every tenant.
	AllChanges = SubjectRoot + ".*.changes.*"
	// AllAlerts matches the alert subjects of every tenant.
	AllAlerts = SubjectRoot + ".*.alerts.*"

	changesToken = "changes"
	alertsToken  = "alerts"
)

// ChangeSubject returns the subject of change events for records of
// recordType (a full protobuf name such as "fieldsync.v1.Visit", or a short
// one) in tenant.
func ChangeSubject(tenant, recordType string) string {
	if i := strings.LastIndexByte(recordType, '.'); i >= 0 {
		recordType = recordType[i+1:]
	}
	return subject(tenant, changesToken, recordType)
}

// AlertSubject returns the subject of alerts of kind in tenant.
func AlertSubject(tenant, kind string) string {
	return subject(tenant, alertsToken, kind)
}

// TenantChanges matches every change subject of tenant.
func TenantChanges(tenant string) string {
	return SubjectRoot + "." + Token(tenant) + "." + changesToken + ".*"
}

// TenantAlerts matches every alert subject of tenant.
func TenantAlerts(tenant string) string {
	return SubjectRoot + "." + Token(tenant) + "." + alertsToken + ".*"
}

func subject(tenant, class, name string) string {
	return SubjectRoot + "." + Token(tenant) + "." + class + "." + Token(name)
}

// StreamForSubject returns the stream that stores subject, or false when the
// subject is not a well-formed fieldsync change or alert subject.
func StreamForSubject(subject string) (string, bool) {
	tokens := strings.Split(subject, ".")
	if len(tokens) != 4 || tokens[0] != SubjectRoot {
		return "", false
	}
	for _, t := range tokens {
		if t == "" || Token(t) != t {
			return "", false
		}
	}
	switch tokens[2] {
	case changesToken:
		return ChangesStream, true
	case alertsToken:
		return AlertsStream, true
	}
	return "", false
}

// Token makes s usable as one subject token: dots, wildcards ('*', '>'),
// whitespace and control characters become '_', and an empty string
// becomes "_". Tokens made of letters, digits, '-' and '_' (ULIDs, record
// type names) are returned unchanged.
func Token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f:
			return '_'
		}
		return r
	}, s)
}
