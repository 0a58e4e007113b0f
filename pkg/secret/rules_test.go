package secret

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"hash/crc32"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/finding"
)

var update = flag.Bool("update", false, "rewrite golden files (docs/secrets-rules.md)")

// gen makes test credentials at run time from a seeded generator, so that
// no file of the repository holds a string a secret scanner would flag.
type gen struct{ r *mrand.Rand }

const (
	alUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	alLower = "abcdefghijklmnopqrstuvwxyz"
	alDigit = "0123456789"
	alHex   = "0123456789abcdef"
)

func (g gen) pick(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

func (g gen) b62(n int) string     { return g.pick(alUpper+alLower+alDigit, n) }
func (g gen) b64url(n int) string  { return g.pick(alUpper+alLower+alDigit+"_-", n) }
func (g gen) hex(n int) string     { return g.pick(alHex, n) }
func (g gen) upHex(n int) string   { return strings.ToUpper(g.hex(n)) }
func (g gen) digits(n int) string  { return g.pick("123456789", 1) + g.pick(alDigit, n-1) }
func (g gen) upAlnum(n int) string { return g.pick(alUpper+alDigit, n) }
func (g gen) loAlnum(n int) string { return g.pick(alLower+alDigit, n) }
func (g gen) letters(n int) string { return g.pick(alUpper+alLower, n) }

func (g gen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

// b64 is standard base64 of n random bytes.
func (g gen) b64(n int) string { return base64.StdEncoding.EncodeToString(g.bytes(n)) }

func (g gen) uuid() string {
	h := g.hex(32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// checksummed is a GitHub or npm token: prefix, 30 random base62
// characters and their CRC-32 in 6 base62 digits.
func (g gen) checksummed(prefix string) string {
	body := g.b62(30)
	return prefix + body + base62(uint64(crc32.ChecksumIEEE([]byte(body))), 6)
}

func base62(v uint64, width int) string {
	b := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		b[i] = base62Alphabet[v%62]
		v /= 62
	}
	return string(b)
}

// pemBlock is a PEM block of the given type around random bytes.
func (g gen) pemBlock(typ string, n int) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: g.bytes(n)}))
}

// ageKey is an age identity with a valid Bech32 checksum.
func (g gen) ageKey() string {
	data := make([]byte, 52)
	for i := range data {
		data[i] = byte(g.r.IntN(32))
	}
	hrp := "age-secret-key-"
	values := []byte{}
	for _, c := range []byte(hrp) {
		values = append(values, c>>5)
	}
	values = append(values, 0)
	for _, c := range []byte(hrp) {
		values = append(values, c&31)
	}
	values = append(append(values, data...), 0, 0, 0, 0, 0, 0)
	mod := bech32Polymod(values) ^ 1
	var b strings.Builder
	b.WriteString(strings.ToUpper(hrp) + "1")
	for _, d := range data {
		b.WriteByte(bech32Charset[d])
	}
	for i := range 6 {
		b.WriteByte(bech32Charset[(mod>>(5*(5-i)))&31])
	}
	return strings.ToUpper(b.String())
}

// jwt is a signed-looking token: a JSON header naming alg, a JSON claims
// set and a random signature.
func (g gen) jwt(alg string) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
	claims := enc.EncodeToString([]byte(`{"sub":"system:serviceaccount:ci:` + g.loAlnum(8) + `","iat":17` + g.digits(8) + `}`))
	return head + "." + claims + "." + g.b64url(43)
}

// tp is a true positive: the text, and the secret the rule must report.
type tp struct{ text, secret string }

// in puts secret in place of the %s of format.
func in(format, secret string) tp { return tp{strings.Replace(format, "%s", secret, 1), secret} }

type ruleCase struct {
	id  string
	tps []tp
	fps []string
}

// ruleCases are each built-in rule's true and false positives.
func ruleCases(t testing.TB) []ruleCase {
	g := gen{mrand.New(mrand.NewPCG(2024, 7))}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	saPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	saJSON, _ := json.Marshal(strings.TrimSuffix(saPEM, "\n"))
	saKey := string(saJSON[1 : len(saJSON)-1]) // the JSON string's content, \n escaped
	saFile := func(key string) string {
		return "{\n  \"type\": \"service_account\",\n  \"project_id\": \"shop-prod\",\n  \"private_key_id\": \"" + g.hex(40) + "\",\n  \"private_key\": \"" + key + "\\n\",\n  \"client_email\": \"ci@shop-prod.iam.gserviceaccount.com\"\n}\n"
	}
	kubeKey := base64.StdEncoding.EncodeToString([]byte(g.pemBlock("EC PRIVATE KEY", 121)))
	clientSecret := func() string {
		return g.b62(3) + g.digits(1) + "Q~" + g.pick(alUpper+alLower+alDigit+"_~.-", 34)
	}
	azureKey := g.b64(64)
	azurite := strings.Join([]string{"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr", "/KBHBeksoGMGw=="}, "")
	pgpBody := func() string {
		var b strings.Builder
		for range 6 {
			b.WriteString(g.b64(48) + "\n")
		}
		return b.String() + "=" + g.b64(3)[:4] + "\n"
	}
	rsaBody := func(indent string) string {
		var b strings.Builder
		for range 5 {
			b.WriteString(indent + g.b64(48) + "\n")
		}
		return b.String()
	}
	puttyKey := g.b64(33) + "\n" + g.b64(30)
	sentry := "sntrys_" + base64.RawStdEncoding.EncodeToString([]byte(`{"iat":17`+g.digits(8)+`.0,"url":"https://sentry.io","region_url":"https://us.sentry.io","org":"shop"}`)) + "_" + g.b62(43)
	grafana := func() string {
		return "glc_" + base64.StdEncoding.EncodeToString([]byte(`{"o":"`+g.digits(6)+`","n":"stack-`+g.digits(6)+`-hm-write","k":"`+g.b62(24)+`","m":{"r":"prod-eu-west-2"}}`))
	}
	onePassword := "ops_" + base64.RawURLEncoding.EncodeToString([]byte(`{"signInAddress":"my.1password.eu","userAuth":{"method":"SRPg-4096","alg":"PBES2g-HS256","iterations":650000,"salt":"`+g.b64url(22)+`"},"email":"`+g.loAlnum(12)+`@1passwordserviceaccounts.eu","srpX":"`+g.hex(64)+`","muk":{"alg":"A256GCM","ext":true,"k":"`+g.b64url(43)+`","key_ops":["decrypt","encrypt"],"kty":"oct","kid":"mp"},"secretKey":"A3-`+g.upAlnum(6)+`-`+g.upAlnum(26)+`","deviceUuid":"`+g.loAlnum(26)+`"}`))
	discordID := base64.RawStdEncoding.EncodeToString([]byte(g.digits(18)))
	openai := func(kind string) string { return "sk-" + kind + "-" + g.b64url(74) + "T3BlbkFJ" + g.b64url(74) }
	age := g.ageKey()
	badAge := age[:len(age)-1] + map[bool]string{true: "Q", false: "P"}[age[len(age)-1] != 'Q']
	teams := func(tail string) string {
		return "webhook.office.com/webhookb2/" + g.uuid() + "@" + g.uuid() + "/IncomingWebhook/" + g.hex(32) + "/" + g.uuid() + tail
	}
	zeroUUID := "00000000-0000-0000-0000-000000000000"

	return []ruleCase{
		// Cloud.
		{"aws-access-key-id", []tp{
			in("aws_access_key_id = %s", tok("AK", "IA", g.pick(alUpper+"234567", 16))),
			in(`{"AccessKeyId": "%s", "Expiration": "2026-01-01T00:00:00Z"}`, tok("AS", "IA", g.pick(alUpper+"234567", 16))),
		}, []string{
			"aws_access_key_id = " + tok("AK", "IA", strings.Repeat("X", 16)),
			"aws_access_key_id: " + tok("AK", "IA", "IOSFODNN7", "EXAMPLE"),
		}},
		{"aws-secret-access-key", []tp{
			in("aws_secret_access_key = %s", g.pick(alUpper+alLower+alDigit+"/+", 40)),
			in(`  AWS_SECRET_ACCESS_KEY: "%s"`, g.pick(alUpper+alLower+alDigit+"/+", 40)),
		}, []string{
			"aws_secret_access_key = " + tok("wJalrXUtnFEMI/K7MDENG/", "bPxRfiCY", "EXAMPLEKEY"),
			"aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}",
		}},
		{"aws-session-token", []tp{
			in("aws_session_token = %s", g.b64(240)),
			in(`export AWS_SESSION_TOKEN="%s"`, g.b64(300)),
		}, []string{
			"AWS_SESSION_TOKEN=${AWS_SESSION_TOKEN}",
			`"AWS_SESSION_TOKEN": "` + strings.Repeat("A", 120) + `"`,
		}},
		{"aws-mws-key", []tp{
			in("MWS_AUTH_TOKEN=%s", "amzn.mws."+g.uuid()),
			in(`  mws_auth_token: "%s"`, "amzn.mws."+g.uuid()),
		}, []string{
			"seller_token = amzn.mws." + zeroUUID,
			"// tokens look like amzn.mws.<uuid>",
		}},
		{"gcp-service-account-key", []tp{
			in(saFile("%s"), saKey),
			in(strings.ReplaceAll(saFile("%s"), "\n", ""), saKey),
		}, []string{
			saFile(`-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----`),
			`{"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci/providers/gh", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": "https://sts.googleapis.com/v1/token"}`,
		}},
		{"gcp-api-key", []tp{
			in("GOOGLE_API_KEY=%s", tok("AI", "za", g.b64url(35))),
			in(`const mapsKey = "%s"`, tok("AI", "za", g.b64url(35))),
		}, []string{
			`const mapsKey = "` + tok("AI", "za", "Sy", strings.Repeat("X", 33)) + `"`,
			`"browserKey": "` + tok("AI", "za", g.b64url(20)) + `"`,
		}},
		{"gcp-oauth-client-secret", []tp{
			in(`{"web": {"client_id": "123.apps.googleusercontent.com", "client_secret": "%s"}}`, tok("GOC", "SPX-", g.b64url(28))),
			in("GOOGLE_CLIENT_SECRET=%s", tok("GOC", "SPX-", g.b64url(28))),
		}, []string{
			"client_secret: " + tok("GOC", "SPX-", strings.Repeat("x", 28)),
			"// Google client secrets begin with GOCSPX- and 28 more characters.",
		}},
		{"azure-storage-account-key", []tp{
			in("DefaultEndpointsProtocol=https;AccountName=shopdata;AccountKey=%s;EndpointSuffix=core.windows.net", azureKey),
			in("AZURE_STORAGE_KEY=%s", g.b64(64)),
		}, []string{
			"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + azurite + ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
			"DefaultEndpointsProtocol=https;AccountName=shopdata;AccountKey=$(STORAGE_KEY);EndpointSuffix=core.windows.net",
		}},
		{"azure-ad-client-secret", []tp{
			in("AZURE_CLIENT_SECRET=%s", clientSecret()),
			in(`  "clientSecret": "%s",`, clientSecret()),
		}, []string{
			`  "clientSecret": "` + tok("xxx8", "Q~", strings.Repeat("x", 34)) + `",`,
			"value: " + tok("abc8", "Q~", g.b62(10)),
		}},
		{"azure-sas-token", func() []tp {
			s1, s2 := g.b62(43)+"%3D", g.b62(43)+"="
			return []tp{
				{"https://shop.blob.core.windows.net/backups?sv=2022-11-02&ss=b&srt=co&sp=rl&se=2026-01-01T00:00:00Z&spr=https&sig=" + s1, s1},
				{`AZURE_SAS="?sv=2021-06-08&sr=c&sp=racwdl&sig=` + s2 + `"`, s2},
			}
		}(), []string{
			"https://shop.blob.core.windows.net/backups?sig=" + g.b62(43),
			"?sv=2022-11-02&sr=b&sig=" + strings.Repeat("X", 43) + "%3D",
		}},
		{"azure-shared-access-key", []tp{
			in("Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=%s", g.b64(32)),
			in(`"OrdersHub": "Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=%s;EntityPath=orders"`, g.b64(32)),
		}, []string{
			"Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=<SAS_KEY>",
			"Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=" + strings.Repeat("A", 43) + "=",
		}},
		{"digitalocean-pat", []tp{
			in("DIGITALOCEAN_TOKEN=%s", tok("dop", "_v1_", g.hex(64))),
			in(`  do_token: "%s"`, tok("dop", "_v1_", g.hex(64))),
		}, []string{
			"  do_token: " + tok("dop", "_v1_", strings.Repeat("0", 64)),
			"echo " + tok("dop", "_v1_", g.hex(32)),
		}},
		{"digitalocean-oauth-token", []tp{
			in("access: %s", tok("doo", "_v1_", g.hex(64))),
			in(`{"refresh_token": "%s"}`, tok("dor", "_v1_", g.hex(64))),
		}, []string{
			"access: " + tok("doo", "_v1_", strings.Repeat("x", 64)),
			"access: " + tok("dor", "_v1_", g.hex(63)),
		}},
		{"heroku-api-key", []tp{
			in("HEROKU_API_KEY=%s", tok("HR", "KU-AA", g.b64url(58))),
			in(`heroku: {api_key: "%s"}`, tok("HR", "KU-AA", g.b64url(58))),
		}, []string{
			"key: " + tok("HR", "KU-AA", strings.Repeat("x", 58)),
			"key: " + tok("HR", "KU-AA", g.b62(20)),
		}},
		{"heroku-api-key-legacy", []tp{
			in("HEROKU_API_KEY=%s", g.uuid()),
			in(`heroku_api_token: "%s"`, g.uuid()),
		}, []string{
			"HEROKU_APP_ID=" + g.uuid(),
			"heroku_api_key: " + zeroUUID,
		}},
		{"cloudflare-api-token", []tp{
			in("CLOUDFLARE_API_TOKEN=%s", g.b64url(40)),
			in(`cf_api_key: "%s"`, g.hex(37)),
		}, []string{
			"CLOUDFLARE_ZONE_ID=" + g.hex(32),
			"CLOUDFLARE_API_TOKEN=${{ secrets.CF_TOKEN }}",
		}},
		{"cloudflare-origin-ca-key", []tp{
			in("CF_ORIGIN_CA_KEY=%s", tok("v1", ".0-", g.hex(24), "-", g.hex(146))),
			in(`origin_ca = "%s"`, tok("v1", ".0-", g.hex(24), "-", g.hex(146))),
		}, []string{
			"image: shop/api:v1.0-beta",
			"origin_ca = " + tok("v1", ".0-", g.hex(24), "-", g.hex(20)),
		}},
		{"alibaba-access-key-id", []tp{
			in("ALIBABA_CLOUD_ACCESS_KEY_ID=%s", tok("LT", "AI", g.b62(20))),
			in("  accessKeyId: %s", tok("LT", "AI", g.b62(16))),
		}, []string{
			"  accessKeyId: " + tok("LT", "AI", strings.Repeat("X", 16)),
			"  accessKeyId: " + tok("LT", "AI", "abcdefghijklmnop"),
		}},

		// Forges.
		{"github-pat", []tp{
			in("export GH_TOKEN=%s", g.checksummed(tok("gh", "p_"))),
			in(`{"token": "%s"}`, g.checksummed(tok("gh", "p_"))),
		}, []string{
			"echo " + tok("gh", "p_", g.b62(36)),
			`{"token": "` + tok("gh", "p_", strings.Repeat("x", 36)) + `"}`,
		}},
		{"github-oauth-token", []tp{
			in("export GH_TOKEN=%s", g.checksummed(tok("gh", "o_"))),
			in(`{"access_token": "%s"}`, g.checksummed(tok("gh", "o_"))),
		}, []string{
			"echo " + tok("gh", "o_", g.b62(36)),
			"echo " + tok("gh", "o_", g.b62(20)),
		}},
		{"github-user-to-server-token", []tp{
			in("export GH_TOKEN=%s", g.checksummed(tok("gh", "u_"))),
			in(`{"access_token": "%s"}`, g.checksummed(tok("gh", "u_"))),
		}, []string{
			"echo " + tok("gh", "u_", g.b62(36)),
			"echo " + tok("gh", "u_", strings.Repeat("0", 36)),
		}},
		{"github-server-to-server-token", []tp{
			in("  GITHUB_TOKEN: %s", g.checksummed(tok("gh", "s_"))),
			in(`git remote add origin https://github.com/shop/api.git # %s`, g.checksummed(tok("gh", "s_"))),
		}, []string{
			"echo " + tok("gh", "s_", g.b62(36)),
			"run: echo ${{ secrets.GITHUB_TOKEN }} | docker login ghcr.io -u x --password-stdin",
		}},
		{"github-refresh-token", []tp{
			in(`{"refresh_token": "%s"}`, g.checksummed(tok("gh", "r_"))),
			in("refresh = %s", g.checksummed(tok("gh", "r_"))),
		}, []string{
			"echo " + tok("gh", "r_", g.b62(36)),
			"echo " + tok("gh", "r_", g.b62(35)),
		}},
		{"github-fine-grained-pat", []tp{
			in("GITHUB_TOKEN=%s", tok("github", "_pat_", g.b62(22), "_", g.b62(59))),
			in(`  token: "%s"`, tok("github", "_pat_", g.b62(22), "_", g.b62(59))),
		}, []string{
			"echo " + tok("github", "_pat_", g.b62(22), "_", g.b62(30)),
			"echo " + tok("github", "_pat_", strings.Repeat("X", 22), "_", strings.Repeat("X", 59)),
		}},
		{"gitlab-pat", []tp{
			in("GITLAB_TOKEN=%s", tok("gl", "pat-", g.b64url(20))),
			in(`  private_token: "%s"`, tok("gl", "pat-", g.b64url(27), ".01.", g.loAlnum(9))),
		}, []string{
			"echo " + tok("gl", "pat-", strings.Repeat("x", 20)),
			"echo " + tok("gl", "pat-", g.b62(12)),
		}},
		{"gitlab-deploy-token", []tp{
			in("CI_DEPLOY_PASSWORD=%s", tok("gl", "dt-", g.b64url(20))),
			in("docker login -u deployer -p %s registry.gitlab.com", tok("gl", "dt-", g.b64url(20))),
		}, []string{
			"echo " + tok("gl", "dt-", "your-deploy-token-here"),
			"echo " + tok("gl", "dt-", g.b62(10)),
		}},
		{"gitlab-runner-token", []tp{
			in(`  token = "%s"`, tok("gl", "rt-", g.b64url(20))),
			in("gitlab-runner register --token %s", tok("gl", "rt-", g.b64url(27), ".01.", g.loAlnum(9))),
		}, []string{
			`  token = "` + tok("gl", "rt-", strings.Repeat("X", 20)) + `"`,
			"gitlab-runner register --token " + tok("gl", "rt-", "$RUNNER_TOKEN"),
		}},
		{"gitlab-pipeline-trigger-token", []tp{
			in("curl -X POST -F token=%s -F ref=main https://gitlab.com/api/v4/projects/1/trigger/pipeline", tok("gl", "ptt-", g.hex(40))),
			in("TRIGGER_TOKEN=%s", tok("gl", "ptt-", g.b64url(20))),
		}, []string{
			"curl -X POST -F token=" + tok("gl", "ptt-", "0000000000000000000000") + " -F ref=main",
			"echo " + tok("gl", "ptt-", g.b62(8)),
		}},
		{"gitlab-ci-build-token", []tp{
			in("CI_JOB_TOKEN=%s", tok("gl", "cbt-", "64_", g.b64url(20))),
			in("job: %s", tok("gl", "cbt-", "1_", g.b64url(20))),
		}, []string{
			"job: " + tok("gl", "cbt-", "1_", strings.Repeat("x", 20)),
			"job: " + tok("gl", "cbt-", g.b62(5)),
		}},
		{"gitlab-runner-registration-token", []tp{
			in("REGISTRATION_TOKEN=%s", tok("GR1348", "941", g.b64url(20))),
			in("gitlab-runner register --registration-token %s", tok("GR1348", "941", g.b64url(20))),
		}, []string{
			"gitlab-runner register --registration-token " + tok("GR1348", "941", "your-registration-token"),
			"gitlab-runner register --registration-token " + tok("GR1348", "941"),
		}},
		{"bitbucket-app-password", []tp{
			in("BITBUCKET_APP_PASSWORD=%s", tok("AT", "BB", g.b62(32))),
			in(`  app_password: "%s"`, tok("AT", "BB", g.b62(32))),
		}, []string{
			"echo " + tok("AT", "BB", strings.Repeat("x", 32)),
			"echo " + tok("AT", "BB", g.b62(10)),
		}},
		{"bitbucket-access-token", []tp{
			in("BITBUCKET_ACCESS_TOKEN=%s", tok("ATCTT3x", "FfGN0", g.b64url(180), "=", g.upHex(8))),
			in(`  repo_token: "%s"`, tok("ATCTT3x", "FfGN0", g.b64url(170), "=", g.upHex(8))),
		}, []string{
			"echo " + tok("ATCTT3x", "FfGN0", g.b64url(40)),
			"echo " + tok("ATCTT3x", "FfGN0", g.b64url(180)),
		}},
		{"atlassian-api-token", []tp{
			in("JIRA_API_TOKEN=%s", tok("ATATT3x", "FfGF0", g.b64url(180), "=", g.upHex(8))),
			in(`jira = JIRA(server, basic_auth=("me@shop.io", "%s"))`, tok("ATATT3x", "FfGF0", g.b64url(180), "=", g.upHex(8))),
		}, []string{
			"echo " + tok("ATATT3x", "FfGF0", strings.Repeat("x", 180), "=", "ABCDEF12"),
			"echo " + tok("ATATT3x", "FfGF0", g.b64url(50)),
		}},

		// Chat.
		{"slack-bot-token", []tp{
			in("SLACK_BOT_TOKEN=%s", tok("xo", "xb-", g.digits(12), "-", g.digits(13), "-", g.b62(24))),
			in(`client = WebClient(token="%s")`, tok("xo", "xb-", g.digits(11), "-", g.digits(12), "-", g.b62(24))),
		}, []string{
			"echo " + tok("xo", "xb-", "your-bot-token"),
			"echo " + tok("xo", "xb-", g.digits(12), "-", g.digits(13), "-", strings.Repeat("x", 24)),
		}},
		{"slack-user-token", []tp{
			in("SLACK_USER_TOKEN=%s", tok("xo", "xp-", g.digits(12), "-", g.digits(12), "-", g.digits(13), "-", g.hex(32))),
			in(`  "user_token": "%s"`, tok("xo", "xp-", g.digits(12), "-", g.digits(12), "-", g.digits(13), "-", g.hex(32))),
		}, []string{
			"echo " + tok("xo", "xp-", "1234-5678"),
			"echo " + tok("xo", "xp-", g.digits(12), "-", g.digits(12), "-", g.digits(13), "-", strings.Repeat("0", 32)),
		}},
		{"slack-app-token", []tp{
			in("SLACK_APP_TOKEN=%s", tok("xa", "pp-1-", g.upAlnum(11), "-", g.digits(13), "-", g.hex(64))),
			in(`app = App(token=bot, app_token="%s")`, tok("xa", "pp-1-", g.upAlnum(11), "-", g.digits(13), "-", g.hex(64))),
		}, []string{
			"echo " + tok("xa", "pp-1-", "A0000000000", "-", g.digits(13), "-", strings.Repeat("0", 64)),
			"echo " + tok("xa", "pp-1-", g.upAlnum(11)),
		}},
		{"slack-legacy-token", []tp{
			in("SLACK_TOKEN=%s", tok("xo", "xa-2-", g.digits(12), "-", g.b62(40))),
			in(`{"refresh_token": "%s"}`, tok("xo", "xr-", g.digits(12), "-", g.b62(64))),
		}, []string{
			"echo " + tok("xo", "xs-", "placeholder-token-value"),
			"echo " + tok("xo", "xo-1-", "abc"),
		}},
		{"slack-webhook", []tp{
			in("SLACK_WEBHOOK_URL=https://%s", tok("hooks.slack.com/services/T", g.upAlnum(10), "/B", g.upAlnum(10), "/", g.b62(24))),
			in(`  url: "https://%s"`, tok("hooks.slack.com/workflows/T", g.upAlnum(10), "/A", g.upAlnum(10), "/", g.digits(18), "/", g.b62(32))),
		}, []string{
			"SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T00000000/B00000000/" + strings.Repeat("X", 24),
			"SLACK_WEBHOOK_URL=https://hooks.slack.com/services/${SLACK_PATH}",
		}},
		{"discord-bot-token", []tp{
			in("DISCORD_TOKEN=%s", discordID+"."+g.b64url(6)+"."+g.b64url(38)),
			in(`bot.run("%s")  # discord`, base64.RawStdEncoding.EncodeToString([]byte(g.digits(19)))+"."+g.b64url(6)+"."+g.b64url(27)),
		}, []string{
			"DISCORD_CLIENT_ID=" + g.digits(18),
			"discord: M" + g.b62(23) + "." + g.b62(6) + "." + g.b62(27),
		}},
		{"discord-webhook", []tp{
			in("DISCORD_WEBHOOK=https://%s", "discord.com/api/webhooks/"+g.digits(18)+"/"+g.b64url(68)),
			in(`  url: "https://%s"`, "discordapp.com/api/webhooks/"+g.digits(19)+"/"+g.b64url(68)),
		}, []string{
			"DISCORD_WEBHOOK=https://discord.com/api/webhooks/{id}/{token}",
			"DISCORD_WEBHOOK=https://discord.com/api/webhooks/" + g.digits(18) + "/" + strings.Repeat("x", 68),
		}},
		{"teams-webhook", []tp{
			in("TEAMS_WEBHOOK=https://shop.%s", teams("")),
			in(`  "teams": "https://shop.%s"`, teams("/V2"+g.b64url(43))),
		}, []string{
			"TEAMS_WEBHOOK=https://shop.webhook.office.com/webhookb2/" + zeroUUID + "@" + zeroUUID + "/IncomingWebhook/" + strings.Repeat("0", 32) + "/" + zeroUUID,
			"TEAMS_WEBHOOK=https://shop.webhook.office.com/webhookb2/" + g.uuid(),
		}},
		{"telegram-bot-token", []tp{
			in("TELEGRAM_BOT_TOKEN=%s", g.digits(10)+":AA"+g.b64url(33)),
			in(`updater = Updater("%s")  # telegram`, g.digits(9)+":AA"+g.b64url(33)),
		}, []string{
			"TELEGRAM_BOT_TOKEN=123456789:AA" + strings.Repeat("x", 33),
			"telegram_chat_id: -100" + g.digits(10),
		}},

		// Payments and SaaS.
		{"stripe-secret-key", []tp{
			in("STRIPE_SECRET_KEY=%s", tok("sk", "_live_", g.b62(24))),
			in(`stripe.api_key = "%s"`, tok("sk", "_live_", g.b62(99))),
		}, []string{
			"stripe.api_key = " + tok("sk", "_live_", strings.Repeat("x", 24)),
			"// live keys start with sk_live_ and test keys with sk_test_",
		}},
		{"stripe-restricted-key", []tp{
			in("STRIPE_KEY=%s", tok("rk", "_live_", g.b62(24))),
			in(`  stripe: "%s"`, tok("rk", "_live_", g.b62(99))),
		}, []string{
			"  stripe: " + tok("rk", "_live_", strings.Repeat("0", 24)),
			"  stripe: " + tok("rk", "_live_", g.b62(10)),
		}},
		{"stripe-test-key", []tp{
			in("STRIPE_SECRET_KEY=%s", tok("sk", "_test_", g.b62(24))),
			in(`  stripe: "%s"`, tok("rk", "_test_", g.b62(99))),
		}, []string{
			"STRIPE_SECRET_KEY=" + tok("sk_", "test_4eC39HqLyjWDarjtT1zdp7dc"),
			`stripe.api_key = "` + tok("sk_", "test_BQokikJOvBiI2HlWgH4olfQ2") + `"`,
		}},
		{"stripe-webhook-secret", []tp{
			in("STRIPE_WEBHOOK_SECRET=%s", tok("wh", "sec_", g.b62(32))),
			in(`endpoint_secret = "%s"`, tok("wh", "sec_", g.b62(32))),
		}, []string{
			`endpoint_secret = "` + tok("wh", "sec_", "...") + `"`,
			"echo " + tok("wh", "sec_", g.b62(10)),
		}},
		{"twilio-api-key", []tp{
			in("TWILIO_API_KEY=%s", tok("S", "K", g.hex(32))),
			in(`client = Client("%s", secret, account)  # twilio`, tok("S", "K", g.hex(32))),
		}, []string{
			"TWILIO_API_KEY=" + tok("S", "K", strings.Repeat("x", 32)),
			"# twilio message: SM" + g.hex(32),
		}},
		{"twilio-auth-token", []tp{
			in("TWILIO_AUTH_TOKEN=%s", g.hex(32)),
			in(`client = Client("AC`+g.hex(32)+`", "%s")  # twilio`, g.hex(32)),
		}, []string{
			"TWILIO_ACCOUNT_SID=AC" + g.hex(32),
			"TWILIO_AUTH_TOKEN=${TWILIO_AUTH_TOKEN}",
		}},
		{"sendgrid-api-key", []tp{
			in("SENDGRID_API_KEY=%s", tok("S", "G.", g.b64url(22), ".", g.b64url(43))),
			in(`sg = SendGridAPIClient("%s")`, tok("S", "G.", g.b64url(22), ".", g.b64url(43))),
		}, []string{
			"SENDGRID_API_KEY=" + tok("S", "G.", strings.Repeat("x", 22), ".", strings.Repeat("x", 43)),
			"if err := msg.Send(ctx); err != nil {",
		}},
		{"mailgun-api-key", []tp{
			in("MAILGUN_API_KEY=%s", "key-"+g.hex(32)),
			in(`mailgun: {api_key: "%s"}`, g.hex(32)+"-"+g.hex(8)+"-"+g.hex(8)),
		}, []string{
			"mailgun_domain: mg.shop.io",
			"MAILGUN_API_KEY=key-" + strings.Repeat("0", 32),
		}},
		{"mailchimp-api-key", []tp{
			in("MAILCHIMP_API_KEY=%s", g.hex(32)+"-us21"),
			in(`client.set_config({"api_key": "%s", "server": "us6"})`, g.hex(32)+"-us6"),
		}, []string{
			"MAILCHIMP_API_KEY=" + strings.Repeat("0", 32) + "-us6",
			`etag: "` + g.hex(31) + `-us2"`,
		}},
		{"shopify-access-token", []tp{
			in("SHOPIFY_ACCESS_TOKEN=%s", tok("shp", "at_", g.hex(32))),
			in(`headers = {"X-Shopify-Access-Token": "%s"}`, tok("shp", "pa_", g.hex(32))),
		}, []string{
			"SHOPIFY_ACCESS_TOKEN=" + tok("shp", "at_", strings.Repeat("x", 32)),
			"echo " + tok("shp", "ca_", g.hex(16)),
		}},
		{"shopify-shared-secret", []tp{
			in("SHOPIFY_API_SECRET=%s", tok("shp", "ss_", g.hex(32))),
			in(`  shared_secret: "%s"`, tok("shp", "ss_", g.hex(32))),
		}, []string{
			"  shared_secret: " + tok("shp", "ss_", strings.Repeat("0", 32)),
			"echo " + tok("shp", "ss_", g.hex(20)),
		}},
		{"square-access-token", []tp{
			in("SQUARE_ACCESS_TOKEN=%s", tok("EA", "AA", g.b64url(60))),
			in(`client = Client(access_token="%s")`, tok("sq0", "atp-", g.b64url(22))),
		}, []string{
			"echo " + tok("EA", "AB", g.b64url(60)),
			"SQUARE_ACCESS_TOKEN=" + tok("EA", "AA", strings.Repeat("A", 60)),
		}},
		{"square-oauth-secret", []tp{
			in("SQUARE_APP_SECRET=%s", tok("sq0", "csp-", g.b64url(43))),
			in(`  oauth: "%s"`, tok("sq0", "csp-", g.b64url(43))),
		}, []string{
			"  oauth: " + tok("sq0", "csp-", strings.Repeat("x", 43)),
			"  oauth: " + tok("sq0", "csp-", g.b62(12)),
		}},
		{"braintree-access-token", []tp{
			in("BRAINTREE_TOKEN=%s", tok("access_token", "$production$", g.loAlnum(16), "$", g.hex(32))),
			in(`gateway = braintree.BraintreeGateway(access_token="%s")`, tok("access_token", "$production$", g.loAlnum(16), "$", g.hex(32))),
		}, []string{
			"echo " + tok("access_token", "$sandbox$", g.loAlnum(16), "$", g.hex(32)),
			"BRAINTREE_TOKEN=" + tok("access_token", "$production$", "xxxxxxxxxxxxxxxx", "$", strings.Repeat("0", 32)),
		}},
		{"datadog-api-key", []tp{
			in("DD_API_KEY=%s", g.hex(32)),
			in(`  datadog_app_key: "%s"`, g.hex(40)),
		}, []string{
			"DD_SITE=datadoghq.eu",
			"DD_API_KEY=<DATADOG_API_KEY>",
		}},
		{"newrelic-user-api-key", []tp{
			in("NEW_RELIC_API_KEY=%s", tok("NR", "AK-", g.upAlnum(27))),
			in(`  "apiKey": "%s"`, tok("NR", "AK-", g.upAlnum(27))),
		}, []string{
			"echo " + tok("NR", "AK-", strings.Repeat("X", 27)),
			"echo " + tok("NR", "AK-", g.upAlnum(12)),
		}},
		{"newrelic-insert-key", []tp{
			in("NEW_RELIC_INSERT_KEY=%s", tok("NR", "II-", g.b64url(32))),
			in(`  insert: "%s"`, tok("NR", "II-", g.b64url(32))),
		}, []string{
			"  insert: " + tok("NR", "II-", strings.Repeat("x", 32)),
			"  insert: " + tok("NR", "II-", g.b62(10)),
		}},
		{"sentry-auth-token", []tp{
			in("SENTRY_AUTH_TOKEN=%s", sentry),
			in(`  auth: "%s"`, tok("sntr", "yu_", g.hex(64))),
		}, []string{
			"  auth: " + tok("sntr", "yu_", strings.Repeat("0", 64)),
			"  auth: " + tok("sntr", "ys_", "eyJ", g.b62(20)),
		}},
		{"grafana-cloud-token", []tp{
			in("GRAFANA_CLOUD_TOKEN=%s", grafana()),
			in(`  password: "%s"`, grafana()),
		}, []string{
			"echo " + tok("gl", "c_", "eyJ", g.b62(40)),
			"echo " + tok("gl", "c_", "eyJ", strings.Repeat("x", 40)),
		}},
		{"grafana-service-account-token", []tp{
			in("GRAFANA_TOKEN=%s", tok("gl", "sa_", g.b62(32), "_", g.hex(8))),
			in(`  "Authorization": "Bearer %s"`, tok("gl", "sa_", g.b62(32), "_", g.hex(8))),
		}, []string{
			"echo " + tok("gl", "sa_", strings.Repeat("x", 32), "_", "00000000"),
			"echo " + tok("gl", "sa_", g.b62(32)),
		}},
		{"linear-api-key", []tp{
			in("LINEAR_API_KEY=%s", tok("lin", "_api_", g.b62(40))),
			in(`  "Authorization": "%s"`, tok("lin", "_api_", g.b62(40))),
		}, []string{
			"echo " + tok("lin", "_api_", strings.Repeat("x", 40)),
			"echo " + tok("lin", "_api_", g.b62(20)),
		}},
		{"postman-api-key", []tp{
			in("POSTMAN_API_KEY=%s", tok("PM", "AK-", g.hex(24), "-", g.hex(34))),
			in(`  "X-Api-Key": "%s"`, tok("PM", "AK-", g.hex(24), "-", g.hex(34))),
		}, []string{
			"echo " + tok("PM", "AK-", strings.Repeat("0", 24), "-", strings.Repeat("0", 34)),
			"echo " + tok("PM", "AK-", g.hex(24)),
		}},
		{"pulumi-access-token", []tp{
			in("PULUMI_ACCESS_TOKEN=%s", tok("pu", "l-", g.hex(40))),
			in(`  pulumi: "%s"`, tok("pu", "l-", g.hex(40))),
		}, []string{
			"echo " + tok("pu", "l-", strings.Repeat("0", 40)),
			"echo " + tok("pu", "l-", "request"),
		}},
		{"doppler-token", []tp{
			in("DOPPLER_TOKEN=%s", tok("dp", ".pt.", g.b62(43))),
			in(`  doppler: "%s"`, tok("dp", ".st.", "prd.", g.b62(40))),
		}, []string{
			"echo " + tok("dp", ".st.", strings.Repeat("x", 40)),
			"echo " + tok("dp", ".pt.", g.b62(10)),
		}},
		{"onepassword-service-account-token", []tp{
			in("OP_SERVICE_ACCOUNT_TOKEN=%s", onePassword),
			in(`  op: "%s"`, onePassword),
		}, []string{
			"echo " + tok("op", "s_", "eyJ", g.b62(150)),
			"echo " + tok("op", "s_", "eyJ", strings.Repeat("x", 150)),
		}},
		{"databricks-token", []tp{
			in("DATABRICKS_TOKEN=%s", tok("da", "pi", g.hex(32))),
			in(`  databricks: "%s"`, tok("da", "pi", g.hex(32), "-2")),
		}, []string{
			"echo " + tok("da", "pi", strings.Repeat("0", 32)),
			"echo " + tok("da", "pi", g.hex(20)),
		}},
		{"vault-token", []tp{
			in("VAULT_TOKEN=%s", tok("hv", "s.", g.b64url(91))),
			in(`  vault: "%s"`, tok("hv", "b.", g.b64url(138))),
		}, []string{
			"echo " + tok("hv", "s.", strings.Repeat("x", 91)),
			"echo " + tok("hv", "s.", g.b62(10)),
		}},
		{"vault-token-legacy", []tp{
			in("VAULT_TOKEN=%s", tok("s", ".", g.b62(24))),
			in("vault login %s", tok("s", ".", g.b62(24))),
		}, []string{
			"// vault: " + tok("s", ".", "handleVaultRequestsNowOk") + "()",
			"VAULT_TOKEN=" + tok("s", ".", strings.Repeat("x", 24)),
		}},
		{"terraform-cloud-token", []tp{
			in("TF_TOKEN_app_terraform_io=%s", g.b62(14)+tok(".atlas", "v1.")+g.b64url(67)),
			in(`credentials "app.terraform.io" { token = "%s" }`, g.b62(14)+tok(".atlas", "v1.")+g.b64url(67)),
		}, []string{
			"echo " + strings.Repeat("x", 14) + tok(".atlas", "v1.") + strings.Repeat("x", 67),
			"echo " + g.b62(14) + tok(".atlas", "v1.") + g.b62(20),
		}},
		{"hcp-client-secret", []tp{
			in("HCP_CLIENT_SECRET=%s", g.b64url(64)),
			in(`  hcp_client_secret: "%s"`, g.b64url(64)),
		}, []string{
			"HCP_CLIENT_SECRET=${HCP_SECRET}",
			"HCP_CLIENT_ID=" + g.b62(32),
		}},

		// AI.
		{"openai-project-key", []tp{
			in("OPENAI_API_KEY=%s", openai("proj")),
			in(`client = OpenAI(api_key="%s")`, openai("proj")),
		}, []string{
			"echo " + tok("sk-", "proj-", g.b64url(156)),
			"echo " + tok("sk-", "proj-", strings.Repeat("x", 74), "T3BlbkFJ", strings.Repeat("x", 74)),
		}},
		{"openai-service-account-key", []tp{
			in("OPENAI_API_KEY=%s", openai("svcacct")),
			in(`  openai: "%s"`, openai("svcacct")),
		}, []string{
			"echo " + tok("sk-", "svcacct-", g.b64url(156)),
			"echo " + tok("sk-", "svcacct-", g.b64url(20)),
		}},
		{"openai-admin-key", []tp{
			in("OPENAI_ADMIN_KEY=%s", openai("admin")),
			in(`  openai: "%s"`, openai("admin")),
		}, []string{
			"echo " + tok("sk-", "admin-", g.b64url(156)),
			"echo " + tok("sk-", "admin-", "..."),
		}},
		{"openai-api-key", []tp{
			in("OPENAI_API_KEY=%s", tok("sk-", g.b62(20), "T3Blbk", "FJ", g.b62(20))),
			in(`openai.api_key = "%s"`, tok("sk-", g.b62(20), "T3Blbk", "FJ", g.b62(20))),
		}, []string{
			"echo " + tok("sk-", strings.Repeat("x", 20), "T3Blbk", "FJ", strings.Repeat("x", 20)),
			"echo " + tok("sk-", g.b62(10), "T3Blbk", "FJ", g.b62(10)),
		}},
		{"anthropic-api-key", []tp{
			in("ANTHROPIC_API_KEY=%s", tok("sk-", "ant-api03-", g.b64url(93), "AA")),
			in(`client = anthropic.Anthropic(api_key="%s")`, tok("sk-", "ant-api03-", g.b64url(93), "AA")),
		}, []string{
			"echo " + tok("sk-", "ant-api03-", strings.Repeat("x", 93), "AA"),
			"echo " + tok("sk-", "ant-api03-", g.b64url(40)),
		}},
		{"anthropic-admin-key", []tp{
			in("ANTHROPIC_ADMIN_KEY=%s", tok("sk-", "ant-admin01-", g.b64url(93), "AA")),
			in(`  admin: "%s"`, tok("sk-", "ant-admin01-", g.b64url(93), "AA")),
		}, []string{
			"echo " + tok("sk-", "ant-admin01-", g.b64url(93), "ZZ"),
			"echo " + tok("sk-", "ant-admin01-", "..."),
		}},
		{"huggingface-token", []tp{
			in("HF_TOKEN=%s", tok("h", "f_", g.letters(34))),
			in(`login(token="%s")`, tok("api", "_org_", g.letters(34))),
		}, []string{
			"path = hf_hub_download(repo_id=\"gpt2\", filename=\"config.json\")",
			"echo " + tok("h", "f_", "modelconfigurationloaderfactoryabc"),
		}},
		{"cohere-api-key", []tp{
			in("COHERE_API_KEY=%s", g.b62(40)),
			in(`  cohere_token: "%s"`, g.b62(40)),
		}, []string{
			"COHERE_API_KEY=<your-api-key>",
			"cohere_model: command-r-plus",
		}},
		{"groq-api-key", []tp{
			in("GROQ_API_KEY=%s", tok("gs", "k_", g.b62(52))),
			in(`client = Groq(api_key="%s")`, tok("gs", "k_", g.b62(52))),
		}, []string{
			"echo " + tok("gs", "k_", strings.Repeat("x", 52)),
			"echo " + tok("gs", "k_", g.b62(20)),
		}},

		// Package and image registries.
		{"npm-access-token", []tp{
			in("//registry.npmjs.org/:_authToken=%s", g.checksummed(tok("np", "m_"))),
			in("export NPM_AUTH_TOKEN=%s", g.checksummed(tok("np", "m_"))),
		}, []string{
			"echo " + tok("np", "m_", g.b62(36)),
			"echo " + tok("np", "m_", strings.Repeat("x", 36)),
		}},
		{"pypi-token", []tp{
			in("TWINE_PASSWORD=%s", tok("pypi-", "AgEIcHlwaS5vcmc", g.b64url(150))),
			in("[pypi]\nusername = __token__\npassword = %s\n", tok("pypi-", "AgENdGVzdC5weXBpLm9yZw", g.b64url(150))),
		}, []string{
			"echo " + tok("pypi-", "AgEIcHlwaS5vcmc", g.b64url(20)),
			"echo " + tok("pypi-", "AgEIcHlwaS5vcmc", strings.Repeat("x", 60)),
		}},
		{"rubygems-api-key", []tp{
			in("GEM_HOST_API_KEY=%s", tok("ruby", "gems_", g.hex(48))),
			in("---\n:rubygems_api_key: %s\n", tok("ruby", "gems_", g.hex(48))),
		}, []string{
			"echo " + tok("ruby", "gems_", strings.Repeat("0", 48)),
			"rubygems_version: 3.5.3",
		}},
		{"nuget-api-key", []tp{
			in("dotnet nuget push app.nupkg -k %s -s https://api.nuget.org/v3/index.json", tok("oy", "2", g.loAlnum(43))),
			in("NUGET_API_KEY=%s", tok("oy", "2", g.loAlnum(43))),
		}, []string{
			"NUGET_API_KEY=" + tok("oy", "2", strings.Repeat("a", 43)),
			"echo " + tok("oy", "2", g.loAlnum(20)),
		}},
		{"docker-hub-pat", []tp{
			in("DOCKERHUB_TOKEN=%s", tok("dckr", "_pat_", g.b64url(27))),
			in("echo %s | docker login -u shop --password-stdin", tok("dckr", "_pat_", g.b64url(27))),
		}, []string{
			"echo " + tok("dckr", "_pat_", strings.Repeat("x", 27)),
			"echo " + tok("dckr", "_pat_", g.b62(10)),
		}},
		{"docker-hub-oat", []tp{
			in("DOCKERHUB_TOKEN=%s", tok("dckr", "_oat_", g.b64url(32))),
			in(`  password: "%s"`, tok("dckr", "_oat_", g.b64url(32))),
		}, []string{
			"echo " + tok("dckr", "_oat_", strings.Repeat("x", 32)),
			"echo " + tok("dckr", "_oat_", g.b62(12)),
		}},

		// Files that hold credentials.
		{"kubeconfig-client-key", []tp{
			in("apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    client-key-data: %s\n", kubeKey),
			in(`{"users":[{"name":"ci","user":{"client-key-data":"%s"}}]}`, kubeKey),
		}, []string{
			"users:\n- name: admin\n  user:\n    client-key-data: " + g.b64(120) + "\n",
			"users:\n- name: admin\n  user:\n    client-key-data: ${CLIENT_KEY}\n",
		}},
		{"kubeconfig-user-token", []tp{
			in("apiVersion: v1\nkind: Config\nusers:\n- name: deployer\n  user:\n    token: %s\n", g.b64url(40)),
			in("users:\n- name: ci\n  user:\n    as-user-extra: {}\n    token: \"%s\"\n", g.jwt("RS256")),
		}, []string{
			"users:\n- name: deployer\n  user:\n    tokenFile: /var/run/secrets/token\n",
			"users:\n- name: oidc\n  user:\n    token: ${K8S_TOKEN}\n",
		}},
		{"npmrc-auth", []tp{
			in("//npm.corp.internal/:_authToken=%s", g.b64url(40)),
			in("registry=https://npm.corp.internal/\n_auth=%s\nalways-auth=true\n", base64.StdEncoding.EncodeToString([]byte("deploy:"+g.b62(16)))),
		}, []string{
			"//registry.npmjs.org/:_authToken=${NPM_TOKEN}",
			"this._authToken = token;",
		}},
		{"pypirc-password", []tp{
			in("[distutils]\nindex-servers =\n    internal\n\n[internal]\nrepository = https://pypi.corp.internal/simple\nusername = deploy\npassword = %s\n", g.b62(20)),
			in("[pypi]\nusername = alice\npassword: %s\n", g.b62(18)+"!"),
		}, []string{
			"[pypi]\nusername = __token__\npassword = <your token>\n",
			"[pypi]\nusername = alice\npassword = %(PYPI_PASSWORD)s\n",
		}},
		{"docker-config-auth", []tp{
			in(`{"auths": {"registry.corp.io": {"auth": "%s"}}}`, base64.StdEncoding.EncodeToString([]byte("ci-bot:"+g.b62(20)))),
			in("{\n  \"auths\": {\n    \"ghcr.io\": {\n      \"auth\": \"%s\"\n    }\n  }\n}\n", base64.StdEncoding.EncodeToString([]byte("shop:"+g.b62(24)))),
		}, []string{
			`{"auths": {"registry.corp.io": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("user:")) + `"}}}`,
			`{"auths": {"registry.corp.io": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("changeme:changeme")) + `"}}}`,
		}},
		{"netrc-password", []tp{
			in("machine git.corp.internal\n  login octocat\n  password %s\n", g.b62(20)),
			in("machine ftp.corp.internal login backup password %s", g.b62(16)),
		}, []string{
			"machine api.heroku.com login me@shop.io password $HEROKU_API_KEY",
			"// the state machine handles login and password reset",
		}},

		// Keys.
		{"private-key", []tp{
			in("%s\n", "-----BEGIN RSA PRIVATE KEY-----\n"+rsaBody("")+"-----END RSA PRIVATE KEY-----"),
			in("tls.key: |\n  %s\n", "-----BEGIN EC PRIVATE KEY-----\n"+rsaBody("  ")+"  -----END EC PRIVATE KEY-----"),
		}, []string{
			"-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n",
			"-----BEGIN PUBLIC KEY-----\n" + rsaBody("") + "-----END PUBLIC KEY-----\n",
		}},
		{"pgp-private-key", []tp{
			in("%s\n", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n"+pgpBody()+"-----END PGP PRIVATE KEY BLOCK-----"),
			in("signing_key: |\n  %s\n", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nComment: release signing (2026)\n\n"+pgpBody()+"-----END PGP PRIVATE KEY BLOCK-----"),
		}, []string{
			"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + pgpBody() + "-----END PGP PUBLIC KEY BLOCK-----\n",
			"-----BEGIN PGP PRIVATE KEY BLOCK-----\n...\n-----END PGP PRIVATE KEY BLOCK-----\n",
		}},
		{"putty-private-key", []tp{
			in("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key-20260101\nPublic-Lines: 2\n"+g.b64(48)+"\n"+g.b64(15)+"\nPrivate-Lines: 2\n%s\nPrivate-MAC: "+g.hex(64)+"\n", puttyKey),
			in("PuTTY-User-Key-File-2: ssh-rsa\r\nEncryption: none\r\nComment: deploy\r\nPublic-Lines: 1\r\n"+g.b64(48)+"\r\nPrivate-Lines: 1\r\n%s\r\nPrivate-MAC: "+g.hex(40)+"\r\n", g.b64(48)),
		}, []string{
			"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: truncated\n",
			"Save the key as a PuTTY-User-Key-File-3 (.ppk) and load it in Pageant.",
		}},
		{"age-secret-key", []tp{
			in("# created: 2026-01-01T00:00:00Z\n# public key: age1"+g.loAlnum(58)+"\n%s\n", age),
			in("SOPS_AGE_KEY=%s", g.ageKey()),
		}, []string{
			"SOPS_AGE_KEY=" + badAge,
			"SOPS_AGE_KEY=" + tok("AGE-SECRET", "-KEY-1", strings.Repeat("Q", 58)),
		}},

		// Shapes.
		{"jwt", []tp{
			in("Authorization: Bearer %s", g.jwt("HS256")),
			in(`  "id_token": "%s"`, g.jwt("RS256")),
		}, []string{
			"Authorization: Bearer " + tok("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ", ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
			"Authorization: Bearer " + g.jwt("none"),
		}},
		{"url-password", []tp{
			in("DATABASE_URL=postgres://app:%s@db.internal:5432/shop", g.b62(16)),
			in(`  uri: "mongodb+srv://admin:%s@cluster0.ab1cd.mongodb.net/test?retryWrites=true"`, g.b62(18)),
		}, []string{
			"DATABASE_URL=postgres://user:$PASSWORD@db:5432/app",
			"BROKER_URL=amqp://guest:password@rabbit:5672/",
		}},
		{"connection-string-password", []tp{
			in(`"Default": "Server=tcp:sql.shop.net,1433;Initial Catalog=shop;User ID=app;Password=%s;"`, g.b62(16)),
			in("url = jdbc:mysql://db:3306/shop?user=app&password=%s&useSSL=true", g.b62(16)),
		}, []string{
			"Server=db;Database=shop;User Id=app;Password=${DB_PASSWORD};",
			"Server=db;User Id=sa;Pwd={password};",
		}},
		{"generic-secret", []tp{
			in(`db_password = "%s"`, g.b62(24)),
			in("  client_secret: '%s'", g.b62(24)),
		}, []string{
			"password: ${DB_PASSWORD}",
			"secret_name: db-credentials-v2",
		}},
	}
}

// TestRuleCases runs each rule's true and false positives through the
// whole catalogue: a true positive is found by that rule alone, at the
// secret's span; a false positive yields nothing at all.
func TestRuleCases(t *testing.T) {
	e := mustEngine(t)
	for _, c := range ruleCases(t) {
		t.Run(c.id, func(t *testing.T) {
			for i, p := range c.tps {
				start := strings.Index(p.text, p.secret)
				if start < 0 {
					t.Fatalf("TP %d: secret not in text", i)
				}
				got := e.Scan([]byte(p.text))
				if len(got) != 1 || got[0].Rule.ID != c.id || got[0].Start != start || got[0].End != start+len(p.secret) {
					t.Errorf("TP %d %q:\n got %s\nwant %s at %d-%d", i, clip(p.text), describeMatches(p.text, got), c.id, start, start+len(p.secret))
				}
			}
			for i, text := range c.fps {
				if got := e.Scan([]byte(text)); len(got) > 0 {
					t.Errorf("FP %d %q: got %s", i, clip(text), describeMatches(text, got))
				}
			}
		})
	}
}

func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

func describeMatches(text string, ms []Match) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "[%s %d-%d %q] ", m.Rule.ID, m.Start, m.End, clip(text[m.Start:m.End]))
	}
	if b.Len() == 0 {
		return "nothing"
	}
	return b.String()
}

// overBroad are keywords that would run a rule on a large share of the
// lines of a tree; only the generic rule, which is hand-coded, may use
// "token".
var overBroad = []string{"key", "api", "auth", "pass", "token", "secret", "password", "user", "http", "https", "://", "=", ":", "sk", "id", "aws", "bearer"}

func TestCatalogue(t *testing.T) {
	rules := Builtin()
	if len(rules) < 60 {
		t.Errorf("%d rules, want at least 60", len(rules))
	}
	cases := map[string]ruleCase{}
	for _, c := range ruleCases(t) {
		if _, dup := cases[c.id]; dup {
			t.Errorf("%s: two case entries", c.id)
		}
		cases[c.id] = c
	}
	ids := map[string]bool{}
	for _, r := range rules {
		if ids[r.ID] {
			t.Errorf("%s: duplicate ID", r.ID)
		}
		ids[r.ID] = true
		if strings.ToLower(r.ID) != r.ID || strings.ContainsAny(r.ID, " _.") {
			t.Errorf("%s: ID is not kebab-case", r.ID)
		}
		if r.Title == "" || r.Description == "" || r.Remediation == "" {
			t.Errorf("%s: title, description and remediation are required", r.ID)
		}
		if !r.Generic && len(r.References) == 0 {
			t.Errorf("%s: no reference to the vendor's documentation", r.ID)
		}
		if r.Severity < finding.Low || r.Severity > finding.Critical {
			t.Errorf("%s: severity %v", r.ID, r.Severity)
		}
		for _, k := range r.Keywords {
			if k != strings.ToLower(k) {
				t.Errorf("%s: keyword %q is not lower-case", r.ID, k)
			}
			if len(k) < 2 || !r.Generic && slices.Contains(overBroad, k) && k != "://" || r.ID != "url-password" && k == "://" {
				t.Errorf("%s: keyword %q is over-broad", r.ID, k)
			}
		}
		if r.Prefix && r.Multiline {
			t.Errorf("%s: Prefix and Multiline exclude each other", r.ID)
		}
		c, ok := cases[r.ID]
		if !ok || len(c.tps) < 2 || len(c.fps) < 2 {
			t.Errorf("%s: want at least 2 true and 2 false positives", r.ID)
		}
	}
	for id := range cases {
		if !ids[id] {
			t.Errorf("case entry %s names no rule", id)
		}
	}
	if _, err := New(rules); err != nil {
		t.Fatal(err)
	}
}

// TestPrefixRulesStartAtTheirKeyword checks what Prefix promises the
// engine: the pattern runs from the keyword, so every true positive of a
// Prefix rule must begin (case-insensitively) with one of its keywords,
// or follow one directly (AccountKey=, client-key-data:).
func TestPrefixRulesStartAtTheirKeyword(t *testing.T) {
	byID := map[string]*Rule{}
	for _, r := range Builtin() {
		byID[r.ID] = r
	}
	for _, c := range ruleCases(t) {
		r := byID[c.id]
		if r == nil || !r.Prefix {
			continue
		}
		for _, p := range c.tps {
			start := strings.Index(p.text, p.secret)
			ok := false
			for _, k := range r.Keywords {
				at := strings.LastIndex(strings.ToLower(p.text[:start+len(k)]), k)
				if at >= 0 && at <= start && start-at <= len(k)+8 {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s: secret %q does not begin at a keyword", c.id, clip(p.secret))
			}
		}
	}
}

// TestDocumentedTestKeysAreQuiet: the vendors' published test values
// (kept as digests in allow.go) are never reported, whatever the line.
func TestDocumentedTestKeysAreQuiet(t *testing.T) {
	e := mustEngine(t)
	keys := []string{
		tok("sk_", "test_4eC39HqLyjWDarjtT1zdp7dc"),
		tok("pk_", "test_TYooMQauvdEDq54NiTphI7jx"),
		tok("sk_", "test_BQokikJOvBiI2HlWgH4olfQ2"),
		tok("pk_", "test_6pRNASCoBOKtIshFeQd4XMUh"),
		tok("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ", ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
	}
	if len(keys) > len(testKeys) {
		t.Fatalf("more keys here (%d) than digests in allow.go (%d)", len(keys), len(testKeys))
	}
	for _, k := range keys {
		if !knownTestKey([]byte(k)) {
			t.Errorf("%.12s…: not among the documented test keys", k)
		}
		for _, line := range []string{"STRIPE_SECRET_KEY=" + k, `  api_key: "` + k + `"`, "Authorization: Bearer " + k, k} {
			if got := e.Scan([]byte(line)); len(got) > 0 {
				t.Errorf("%q: got %s", clip(line), describeMatches(line, got))
			}
		}
	}
}

// TestOwnSourcesAreClean scans this package's sources and test data with
// the catalogue: the tests build every credential at run time, so nothing
// here may look like one (to us, or to a forge's push protection).
func TestOwnSourcesAreClean(t *testing.T) {
	e := mustEngine(t)
	n := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") && !strings.Contains(path, "testdata") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		for _, m := range e.Scan(data) {
			t.Errorf("%s:%d:%d: %s %s", path, m.Line, m.Column, m.Rule.ID, m.Redacted)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join("..", "..", "docs", "secrets-rules.md")
	if data, err := os.ReadFile(doc); err == nil {
		n++
		for _, m := range e.Scan(data) {
			t.Errorf("%s:%d: %s %s", doc, m.Line, m.Rule.ID, m.Redacted)
		}
	}
	if n < 5 {
		t.Fatalf("scanned %d files", n)
	}
}

// TestGitHubChecksum pins the checksum to a token computed by hand: the
// CRC-32 of the 30 random characters, in 6 base62 digits.
func TestGitHubChecksum(t *testing.T) {
	body := strings.Repeat("a1B2c3", 5)
	sum := base62(uint64(crc32.ChecksumIEEE([]byte(body))), 6)
	for _, c := range []struct {
		s    string
		want bool
	}{
		{tok("gh", "p_", body, sum), true},
		{tok("np", "m_", body, sum), true},
		{tok("gh", "p_", body, sum[:5], "x"), false},
		{tok("gh", "p_", body[1:], "Z", sum), false},
		{tok("gh", "p_", body, sum, "0"), false},
		{"ghp_", false},
		{"", false},
		{tok("gh", "p_", body, "zzzzzz"), false}, // over 2^32: no CRC
	} {
		if got := githubChecksum([]byte(c.s)); got != c.want {
			t.Errorf("%q: %v, want %v", c.s, got, c.want)
		}
	}
}

// TestAgeChecksum pins Bech32 to an encoding made independently (the
// generator's) and to single-character corruption.
func TestAgeChecksum(t *testing.T) {
	g := gen{mrand.New(mrand.NewPCG(5, 5))}
	for range 20 {
		k := g.ageKey()
		if !ageSecretKey([]byte(k)) {
			t.Fatalf("%.20s…: valid key rejected", k)
		}
		b := []byte(k)
		i := len("AGE-SECRET-KEY-1") + g.r.IntN(58)
		b[i] = map[bool]byte{true: 'Q', false: 'P'}[b[i] != 'Q']
		if ageSecretKey(b) {
			t.Errorf("corrupted key at %d accepted", i)
		}
	}
}

// TestRulesDoc keeps docs/secrets-rules.md in step with the catalogue
// (go test ./pkg/secret -run TestRulesDoc -update rewrites it).
func TestRulesDoc(t *testing.T) {
	got := rulesDoc(Builtin())
	path := filepath.Join("..", "..", "docs", "secrets-rules.md")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./pkg/secret -run TestRulesDoc -update", path)
	}
}

func rulesDoc(rules []*Rule) []byte {
	var b bytes.Buffer
	b.WriteString("# Secret rules\n\n")
	b.WriteString("<!-- Generated from pkg/secret/rules.go by TestRulesDoc; do not edit. Regenerate with: go test ./pkg/secret -run TestRulesDoc -update -->\n\n")
	fmt.Fprintf(&b, "`mamori scan secret` checks text against %d built-in rules. A rule's pattern runs only where one of its keywords occurs (case-insensitively); rules marked *prefix* look only at the bytes that follow the keyword, *multi-line* rules at the lines that follow it, *checked* rules verify a checksum or decode the value, and *entropy* rules need a random-looking value. Placeholders, references (`${VAR}`) and the vendors' documented test keys are never reported.\n\n", len(rules))
	sorted := slices.Clone(rules)
	slices.SortStableFunc(sorted, func(a, b *Rule) int {
		if a.Severity != b.Severity {
			return int(b.Severity - a.Severity)
		}
		return strings.Compare(a.ID, b.ID)
	})
	b.WriteString("| ID | Title | Severity | Keywords | Matching | What it detects |\n|---|---|---|---|---|---|\n")
	cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
	for _, r := range sorted {
		kw := make([]string, len(r.Keywords))
		for i, k := range r.Keywords {
			kw[i] = "`" + cell(k) + "`"
		}
		var how []string
		switch {
		case r.Generic:
			how = append(how, "key = value")
		case r.Prefix:
			how = append(how, "prefix")
		case r.Multiline:
			how = append(how, "multi-line")
		default:
			how = append(how, "line")
		}
		if r.Check != nil {
			how = append(how, "checked")
		}
		if r.MinEntropy > 0 {
			how = append(how, fmt.Sprintf("entropy ≥ %.1f", r.MinEntropy))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", r.ID, cell(r.Title), r.Severity, strings.Join(kw, " "), strings.Join(how, ", "), cell(r.Description))
	}
	return b.Bytes()
}

// FuzzScan holds the catalogue to its contract on any input: no panic,
// matches inside the text and in order, and every match's value accepted
// by its rule's check.
func FuzzScan(f *testing.F) {
	for _, c := range ruleCases(f) {
		for _, p := range c.tps {
			f.Add([]byte(p.text))
		}
		for _, s := range c.fps {
			f.Add([]byte(s))
		}
	}
	e := mustEngine(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		prev := -1
		for _, m := range e.Scan(data) {
			if m.Start < 0 || m.End > len(data) || m.Start >= m.End || m.Start < prev || m.Line < 1 || m.Column < 1 {
				t.Fatalf("bad match %+v in %d bytes", m, len(data))
			}
			prev = m.Start
			if m.Rule.Check != nil && !m.Rule.Check(data[m.Start:m.End]) {
				t.Fatalf("%s reported a value its check rejects", m.Rule.ID)
			}
		}
	})
}

// FuzzChecks feeds the structure checks (base64, JSON, PEM, Bech32,
// checksums) arbitrary bytes: they must not panic.
func FuzzChecks(f *testing.F) {
	for _, c := range ruleCases(f) {
		for _, p := range c.tps {
			f.Add([]byte(p.secret))
		}
	}
	checks := []func([]byte) bool{validJWT, urlPassword, plainPassword, notWord, githubChecksum, mixedAlnum, randomCase, openAIKey,
		base64JSONToken, gcpPrivateKey, base64PrivateKey, azureStorageKey, discordBotToken, dockerAuth, ageSecretKey}
	f.Fuzz(func(t *testing.T, s []byte) {
		for _, check := range checks {
			check(s)
		}
	})
}

// checksummedToken is a GitHub (ghp_, gho_, …) or npm token with a valid
// checksum, for the package's other tests: tokens with random bodies fail
// the rules' check, as forged ones should.
func checksummedToken(r *mrand.Rand, prefix string) string { return gen{r}.checksummed(prefix) }

// BenchmarkScanDenseKeywords is the worst case for Prefix rules: one long
// minified line where keywords recur every few bytes and none begins a
// token (base64 JSON blobs, bundled code).
func BenchmarkScanDenseKeywords(b *testing.B) {
	e := mustEngine(b)
	g := gen{mrand.New(mrand.NewPCG(3, 3))}
	var s strings.Builder
	for s.Len() < 4<<20 {
		s.WriteString(`eyJ` + g.b64url(40) + `,"npm_` + g.b62(8) + `",hf_x,sk_live_;AIza.`)
	}
	data := []byte(s.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		e.Scan(data)
	}
}
