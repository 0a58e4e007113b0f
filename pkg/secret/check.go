package secret

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"hash/crc32"
	"strings"
)

// Checks accept or reject a rule's candidate by what its pattern cannot
// see: a checksum, an encoding that must decode, a structure. They get
// the secret only, and must not panic on any input.

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

// stopPasswords are words written where a password goes in examples.
var stopPasswords = [...]string{"password", "pass", "passwd", "pwd", "secret", "user", "username", "token", "null", "none", "nil", "true", "false", "empty"}

// urlPassword rejects passwords that are references or masks rather than
// values: $VAR, ${VAR}, %s, a lone word of letters.
func urlPassword(s []byte) bool {
	if len(s) == 0 || s[0] == '$' || s[0] == '%' || s[0] == '*' {
		return false
	}
	for _, w := range stopPasswords {
		if strings.EqualFold(unsafeString(s), w) {
			return false
		}
	}
	return true
}

// plainPassword is urlPassword for connection strings and .netrc, where
// values are also written {placeholder}, <placeholder> or $(VAR).
func plainPassword(s []byte) bool {
	if !urlPassword(s) {
		return false
	}
	if len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}' && identifier(s[1:len(s)-1]) {
		return false // {password}: a format placeholder
	}
	return s[0] != '<' && s[0] != '@' && s[0] != '#'
}

// identifier reports whether s is a name: letters, digits and underscores,
// not starting with a digit.
func identifier(s []byte) bool {
	if len(s) == 0 || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for _, b := range s {
		if !(b == '_' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9') {
			return false
		}
	}
	return true
}

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// githubChecksum verifies a GitHub (ghp_, gho_, ghu_, ghs_, ghr_) or npm
// (npm_) token: after the prefix, 30 random base62 characters and 6 more
// encoding their CRC-32 in base62.
func githubChecksum(s []byte) bool {
	i := bytes.IndexByte(s, '_')
	if i < 0 || len(s)-i-1 != 36 {
		return false
	}
	body := s[i+1:]
	var sum uint64
	for _, c := range body[30:] {
		d := strings.IndexByte(base62Alphabet, c)
		if d < 0 {
			return false
		}
		sum = sum*62 + uint64(d)
	}
	return sum == uint64(crc32.ChecksumIEEE(body[:30]))
}

// mixedAlnum accepts random-looking tokens and rejects words: the value
// holds a digit and a letter, or mixes cases the way random text does
// (about one letter in two upper-case, not one a word).
func mixedAlnum(s []byte) bool {
	var upper, lower, digit int
	for _, b := range s {
		switch {
		case 'A' <= b && b <= 'Z':
			upper++
		case 'a' <= b && b <= 'z':
			lower++
		case '0' <= b && b <= '9':
			digit++
		}
	}
	if digit > 0 && upper+lower > 0 {
		return true
	}
	return upper*4 >= upper+lower && lower*4 >= upper+lower && upper+lower > 0
}

// randomCase accepts letters-only tokens whose case is random rather than
// camelCase: a quarter or more of the letters in each case.
func randomCase(s []byte) bool {
	var upper, lower int
	for _, b := range s[bytes.LastIndexByte(s, '_')+1:] {
		switch {
		case 'A' <= b && b <= 'Z':
			upper++
		case 'a' <= b && b <= 'z':
			lower++
		}
	}
	n := upper + lower
	return n > 0 && upper*4 >= n && lower*4 >= n
}

// openAIKey accepts OpenAI keys, which all carry T3BlbkFJ (base64 of
// "OpenAI") in the middle.
func openAIKey(s []byte) bool { return bytes.Contains(s, []byte("T3BlbkFJ")) }

// decodeBase64 decodes standard or URL-safe base64, padded or not.
func decodeBase64(s []byte) ([]byte, bool) {
	str := string(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(str); err == nil {
			return b, true
		}
	}
	return nil, false
}

// base64JSONToken accepts prefix_<base64 JSON object> tokens (glc_,
// ops_): the part after the first underscore decodes to a JSON object.
func base64JSONToken(s []byte) bool {
	i := bytes.IndexByte(s, '_')
	if i < 0 {
		return false
	}
	b, ok := decodeBase64(s[i+1:])
	if !ok {
		return false
	}
	b = bytes.TrimSpace(b)
	return len(b) > 2 && b[0] == '{' && json.Valid(b)
}

// gcpPrivateKey accepts the private_key of a service account key file:
// the JSON string (with its \n escapes) holds a PKCS#8 key that parses.
func gcpPrivateKey(s []byte) bool {
	var text string
	if json.Unmarshal(append(append([]byte{'"'}, s...), '"'), &text) != nil {
		return false
	}
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "PRIVATE KEY" {
		return false
	}
	_, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	return err == nil
}

// base64PrivateKey accepts base64 that decodes to a PEM private key
// (kubeconfig client-key-data).
func base64PrivateKey(s []byte) bool {
	b, ok := decodeBase64(s)
	if !ok {
		return false
	}
	block, _ := pem.Decode(b)
	return block != nil && strings.HasSuffix(block.Type, "PRIVATE KEY") && len(block.Bytes) >= 32
}

// azuriteKeyDigest is the SHA-256 of the storage key that the Azurite
// emulator and the old storage emulator publish for every installation
// (devstoreaccount1): documentation, not a credential.
const azuriteKeyDigest = "0011cc25eb4320717494d2703e8cba85743e71b500283c21c8b88147992f9059"

// azureStorageKey accepts 64 random bytes in base64 that are not the
// emulator's published key.
func azureStorageKey(s []byte) bool {
	b, err := base64.StdEncoding.DecodeString(string(s))
	if err != nil || len(b) != 64 {
		return false
	}
	sum := sha256.Sum256(s)
	return hex.EncodeToString(sum[:]) != azuriteKeyDigest
}

// discordBotToken accepts tokens whose first part is the bot's user ID (a
// snowflake of 17 to 20 digits) in base64.
func discordBotToken(s []byte) bool {
	dot := bytes.IndexByte(s, '.')
	if dot < 0 {
		return false
	}
	id, ok := decodeBase64(s[:dot])
	if !ok || len(id) < 17 || len(id) > 20 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// notWord accepts file passwords (.netrc, .pypirc) that are values, not
// references or a lone lower-case word from prose ("the state machine
// handles login and password reset").
func notWord(s []byte) bool {
	if !plainPassword(s) {
		return false
	}
	for _, c := range s {
		if c < 'a' || c > 'z' {
			return true
		}
	}
	return false
}

// dockerAuth accepts a config.json auth value that decodes to user:password
// with both parts present and the password not a placeholder.
func dockerAuth(s []byte) bool {
	b, err := base64.StdEncoding.DecodeString(string(s))
	if err != nil {
		return false
	}
	user, pass, ok := bytes.Cut(b, []byte{':'})
	if !ok || len(user) == 0 || len(pass) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return urlPassword(pass) && !isPlaceholder(pass)
}

// bech32Charset is Bech32's alphabet, in value order.
const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// bech32Polymod is Bech32's checksum function (BIP 173).
func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range gen {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

// ageSecretKey verifies the Bech32 checksum of an age identity
// (AGE-SECRET-KEY-1…, upper-case Bech32 with human-readable part
// age-secret-key-).
func ageSecretKey(s []byte) bool {
	low := bytes.ToLower(s)
	sep := bytes.LastIndexByte(low, '1')
	if sep < 1 || len(low)-sep-1 < 6 {
		return false
	}
	hrp, data := low[:sep], low[sep+1:]
	values := make([]byte, 0, 2*len(hrp)+1+len(data))
	for _, c := range hrp {
		values = append(values, c>>5)
	}
	values = append(values, 0)
	for _, c := range hrp {
		values = append(values, c&31)
	}
	for _, c := range data {
		d := strings.IndexByte(bech32Charset, c)
		if d < 0 {
			return false
		}
		values = append(values, byte(d))
	}
	return bech32Polymod(values) == 1
}
