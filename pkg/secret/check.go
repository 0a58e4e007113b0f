package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
)

// validJWT accepts a token whose header decodes to JSON with an alg.
func validJWT(s []byte) bool {
	dot := bytes.IndexByte(s, '.')
	if dot < 0 {
		return false
	}
	head, err := base64.RawURLEncoding.DecodeString(string(bytes.TrimRight(s[:dot], "=")))
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(head, &h) != nil || h.Alg == "" {
		return false
	}
	return h.Alg != "none" // an unsigned token proves nothing
}

// urlPassword rejects passwords that are references or masks rather than
// values: $VAR, ${VAR}, %s, a lone word of letters.
func urlPassword(s []byte) bool {
	if len(s) == 0 || s[0] == '$' || s[0] == '%' || s[0] == '*' {
		return false
	}
	switch string(bytes.ToLower(s)) {
	case "password", "pass", "passwd", "pwd", "secret", "user", "username", "token":
		return false
	}
	return true
}
