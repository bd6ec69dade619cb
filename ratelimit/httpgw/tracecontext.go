package httpgw

import (
	"net/http"
	"strings"
)

// propagateTraceContext passes W3C trace context (traceparent, tracestate)
// to the upstream unchanged, so the API's spans join the caller's trace.
// A malformed or repeated traceparent is dropped with its tracestate, as the
// W3C spec asks, and the upstream starts a new trace.
func propagateTraceContext(h http.Header) {
	if tp := h.Values("Traceparent"); len(tp) == 1 && validTraceparent(tp[0]) {
		return
	}
	h.Del("Traceparent")
	h.Del("Tracestate")
}

// validTraceparent checks "version-traceid-parentid-flags": lower-case hex,
// version not ff, ids not all zero; version 00 has exactly four fields.
func validTraceparent(v string) bool {
	parts := strings.Split(v, "-")
	if len(parts) < 4 {
		return false
	}
	version, traceID, parentID, flags := parts[0], parts[1], parts[2], parts[3]
	if !isHex(version, 2) || version == "ff" || !isHex(traceID, 32) || !isHex(parentID, 16) || !isHex(flags, 2) {
		return false
	}
	if version == "00" && len(parts) != 4 {
		return false
	}
	return strings.Trim(traceID, "0") != "" && strings.Trim(parentID, "0") != ""
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// traceID returns the trace id of a valid traceparent, for logs.
func traceID(h http.Header) string {
	if tp := h.Get("Traceparent"); validTraceparent(tp) {
		return strings.Split(tp, "-")[1]
	}
	return ""
}
