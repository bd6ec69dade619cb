package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Headers of the guide that set tier and user; honoured only from trusted
// callers.
const (
	TierHeader      = "X-Rate-Limit-Tier"
	UserHeader      = "X-User-Id"
	SignatureHeader = "X-Rate-Limit-Signature"
)

// SignatureMaxAge bounds how old a caller signature may be (either way).
const SignatureMaxAge = 5 * time.Minute

// SignCaller returns the X-Rate-Limit-Signature value a trusted caller sends:
// "t=<unix seconds>,v1=<hex HMAC-SHA256>" over
// "v1\n<t>\n<METHOD>\n<path>\n<tier>\n<user>", binding the tier and user
// headers to one request line and a short time.
func SignCaller(secret []byte, at time.Time, method, path, tier, user string) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(callerMAC(secret, ts, method, path, tier, user))
}

func callerMAC(secret []byte, ts, method, path, tier, user string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v1\n" + ts + "\n" + strings.ToUpper(method) + "\n" + path + "\n" + tier + "\n" + user))
	return m.Sum(nil)
}

// verifyCaller checks a signature header against the request.
func verifyCaller(secret []byte, header string, now time.Time, method, path, tier, user string) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if age := now.Sub(time.Unix(sec, 0)); age > SignatureMaxAge || age < -SignatureMaxAge {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, callerMAC(secret, ts, method, path, tier, user))
}
