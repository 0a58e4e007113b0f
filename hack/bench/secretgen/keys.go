package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"time"
)

// The crypto packages ignore a caller's random source since Go 1.26, so
// keys are derived here from the seeded generator: the same seed must give
// the same bytes. The keys are real (they parse and their maths holds);
// RSA is 1024 bits to keep generation fast.

// rsaKey returns an RSA key of the given size whose primes come from r.
func rsaKey(r *rand.Rand, bits int) *rsa.PrivateKey {
	e := big.NewInt(65537)
	one := big.NewInt(1)
	for {
		p, q := prime(r, bits/2), prime(r, bits/2)
		if p.Cmp(q) == 0 {
			continue
		}
		n := new(big.Int).Mul(p, q)
		if n.BitLen() != bits {
			continue
		}
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(e, phi)
		if d == nil {
			continue
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: d, Primes: []*big.Int{p, q}}
		k.Precompute()
		if k.Validate() != nil {
			continue
		}
		return k
	}
}

// prime returns a prime of exactly bits bits with its top two bits set, so
// that the product of two has twice as many.
func prime(r *rand.Rand, bits int) *big.Int {
	b := make([]byte, bits/8)
	fill(r, b)
	b[0] |= 0xc0
	b[len(b)-1] |= 1
	n := new(big.Int).SetBytes(b)
	two := big.NewInt(2)
	for !n.ProbablyPrime(20) {
		n.Add(n, two)
	}
	return n
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

func pemText(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// pemRSA is a PKCS #1 "RSA PRIVATE KEY" block.
func pemRSA(r *rand.Rand) string {
	return pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey(r, 1024)))
}

// pemPKCS8 is a PKCS #8 "PRIVATE KEY" block holding an RSA key, the form
// GCP service-account files carry.
func pemPKCS8(r *rand.Rand) string {
	der, err := x509.MarshalPKCS8PrivateKey(rsaKey(r, 1024))
	if err != nil {
		panic(err) // a key built above is always valid
	}
	return pemText("PRIVATE KEY", der)
}

// pemEC is a SEC 1 "EC PRIVATE KEY" block on P-256.
func pemEC(r *rand.Rand) string {
	for {
		d := make([]byte, 32)
		fill(r, d)
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			continue // out of range for the curve: draw again
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			panic(err)
		}
		return pemText("EC PRIVATE KEY", der)
	}
}

// pemOpenSSH is an unencrypted ed25519 key in the OpenSSH format
// (PROTOCOL.key), with the 70-column lines ssh-keygen writes.
func pemOpenSSH(r *rand.Rand, comment string) string {
	seed := make([]byte, ed25519.SeedSize)
	fill(r, seed)
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	str := func(b *[]byte, s []byte) {
		*b = binary.BigEndian.AppendUint32(*b, uint32(len(s)))
		*b = append(*b, s...)
	}
	var pubBlob []byte
	str(&pubBlob, []byte("ssh-ed25519"))
	str(&pubBlob, pub)
	check := r.Uint32()
	var sec []byte
	sec = binary.BigEndian.AppendUint32(sec, check)
	sec = binary.BigEndian.AppendUint32(sec, check)
	str(&sec, []byte("ssh-ed25519"))
	str(&sec, pub)
	str(&sec, priv)
	str(&sec, []byte(comment))
	for i := byte(1); len(sec)%8 != 0; i++ {
		sec = append(sec, i)
	}
	out := []byte("openssh-key-v1\x00")
	str(&out, []byte("none"))
	str(&out, []byte("none"))
	str(&out, nil)
	out = binary.BigEndian.AppendUint32(out, 1)
	str(&out, pubBlob)
	str(&out, sec)
	return armor("OPENSSH PRIVATE KEY", base64.StdEncoding.EncodeToString(out), 70, "")
}

// pemPGP is an ASCII-armoured PGP private key block: a v4 secret-key packet
// header over random key material, with its CRC-24 checksum line.
func pemPGP(r *rand.Rand) string {
	body := make([]byte, 900+r.IntN(200))
	fill(r, body)
	body[0], body[1], body[2], body[3] = 0x95, 0x03, byte(len(body)-3), 0x04
	crc := crc24(body)
	sum := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 16), byte(crc >> 8), byte(crc)})
	return armor("PGP PRIVATE KEY BLOCK", base64.StdEncoding.EncodeToString(body), 64, "="+sum+"\n")
}

func armor(typ, b64 string, width int, trailer string) string {
	var sb strings.Builder
	sb.WriteString("-----BEGIN " + typ + "-----\n")
	if strings.HasPrefix(typ, "PGP") {
		sb.WriteString("\n")
	}
	for len(b64) > width {
		sb.WriteString(b64[:width] + "\n")
		b64 = b64[width:]
	}
	sb.WriteString(b64 + "\n" + trailer)
	sb.WriteString("-----END " + typ + "-----\n")
	return sb.String()
}

// crc24 is the OpenPGP armour checksum (RFC 4880 6.1).
func crc24(b []byte) uint32 {
	crc := uint32(0xb704ce)
	for _, c := range b {
		crc ^= uint32(c) << 16
		for range 8 {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= 0x1864cfb
			}
		}
	}
	return crc & 0xffffff
}

// certPEM is a self-signed certificate: public, the kind of base64 a
// kubeconfig carries beside its key and a scanner must not report.
// Ed25519 signatures are deterministic, so the bytes depend on the key and
// the fields only (and an Ed25519 key is quick to make).
func certPEM(r *rand.Rand, cn string) string {
	seed := make([]byte, ed25519.SeedSize)
	fill(r, seed)
	k := ed25519.NewKeyFromSeed(seed)
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(365*24)) * time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetUint64(r.Uint64()),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"system:masters"}},
		NotBefore:    start,
		NotAfter:     start.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(zeroReader{}, tmpl, tmpl, k.Public(), k)
	if err != nil {
		panic(fmt.Sprintf("self-signed certificate: %v", err))
	}
	return pemText("CERTIFICATE", der)
}

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}
