package osrelease

import "time"

// eolKey names a release: the family and its release key (see releaseKey).
type eolKey struct{ family, release string }

// eolTable is the end of security support per release, as the vendors
// publish it and endoflife.date (https://endoflife.date/<product>)
// collects it, read in November 2026. Rolling distributions (Wolfi,
// Chainguard, Debian unstable) have none.
var eolTable = map[eolKey]string{
	// Debian: end of Debian LTS (https://wiki.debian.org/LTS), which
	// publishes its DLA advisories through the same security archive and
	// the same OSV "Debian:N" ecosystem; regular security support ends
	// about two years earlier (12: 2026-06-10).
	{"debian", "8"}:  "2020-06-30",
	{"debian", "9"}:  "2022-06-30",
	{"debian", "10"}: "2024-06-30",
	{"debian", "11"}: "2026-08-31",
	{"debian", "12"}: "2028-06-30",
	{"debian", "13"}: "2030-06-30",

	// Ubuntu: end of standard support (https://ubuntu.com/about/release-cycle,
	// endoflife.date/ubuntu); Expanded Security Maintenance needs Ubuntu Pro.
	{"ubuntu", "14.04"}: "2019-04-25",
	{"ubuntu", "14.10"}: "2015-07-23",
	{"ubuntu", "15.04"}: "2016-02-04",
	{"ubuntu", "15.10"}: "2016-07-28",
	{"ubuntu", "16.04"}: "2021-04-30",
	{"ubuntu", "16.10"}: "2017-07-20",
	{"ubuntu", "17.04"}: "2018-01-13",
	{"ubuntu", "17.10"}: "2018-07-19",
	{"ubuntu", "18.04"}: "2023-05-31",
	{"ubuntu", "18.10"}: "2019-07-18",
	{"ubuntu", "19.04"}: "2020-01-23",
	{"ubuntu", "19.10"}: "2020-07-17",
	{"ubuntu", "20.04"}: "2025-05-29",
	{"ubuntu", "20.10"}: "2021-07-22",
	{"ubuntu", "21.04"}: "2022-01-20",
	{"ubuntu", "21.10"}: "2022-07-14",
	{"ubuntu", "22.04"}: "2027-06-01",
	{"ubuntu", "22.10"}: "2023-07-20",
	{"ubuntu", "23.04"}: "2024-01-25",
	{"ubuntu", "23.10"}: "2024-07-11",
	{"ubuntu", "24.04"}: "2029-05-31",
	{"ubuntu", "24.10"}: "2025-07-10",
	{"ubuntu", "25.04"}: "2026-01-15",
	{"ubuntu", "25.10"}: "2026-07-09",

	// Alpine: end of the main repository's security fixes
	// (https://alpinelinux.org/releases/, endoflife.date/alpine-linux).
	{"alpine", "3.10"}: "2021-05-01",
	{"alpine", "3.11"}: "2021-11-01",
	{"alpine", "3.12"}: "2022-05-01",
	{"alpine", "3.13"}: "2022-11-01",
	{"alpine", "3.14"}: "2023-05-01",
	{"alpine", "3.15"}: "2023-11-01",
	{"alpine", "3.16"}: "2024-05-23",
	{"alpine", "3.17"}: "2024-11-22",
	{"alpine", "3.18"}: "2025-05-09",
	{"alpine", "3.19"}: "2025-11-01",
	{"alpine", "3.20"}: "2026-04-01",
	{"alpine", "3.21"}: "2026-11-01",
	{"alpine", "3.22"}: "2027-05-01",
	{"alpine", "3.23"}: "2027-11-01",

	// RHEL: end of Maintenance Support (https://access.redhat.com/support/policy/updates/errata);
	// Extended Life-cycle Support is sold separately.
	{"rhel", "7"}:  "2024-06-30",
	{"rhel", "8"}:  "2029-05-31",
	{"rhel", "9"}:  "2032-05-31",
	{"rhel", "10"}: "2035-05-31",
	// Rocky Linux (https://wiki.rockylinux.org/rocky/version/) and
	// AlmaLinux (https://wiki.almalinux.org/release-notes/) follow RHEL;
	// neither has a 7.
	{"rocky", "8"}:      "2029-05-31",
	{"rocky", "9"}:      "2032-05-31",
	{"rocky", "10"}:     "2035-05-31",
	{"almalinux", "8"}:  "2029-03-01",
	{"almalinux", "9"}:  "2032-05-31",
	{"almalinux", "10"}: "2035-05-31",
	// CentOS Linux and CentOS Stream (https://www.centos.org/centos-linux-eol/,
	// https://www.centos.org/cl-vs-cs/).
	{"centos", "7"}:        "2024-06-30",
	{"centos", "8"}:        "2021-12-31",
	{"centos", "stream8"}:  "2024-05-31",
	{"centos", "stream9"}:  "2027-05-31",
	{"centos", "stream10"}: "2030-01-01",

	// Amazon Linux (https://aws.amazon.com/amazon-linux-2/faqs/,
	// https://docs.aws.amazon.com/linux/al2023/ug/release-cadence.html);
	// Amazon Linux 1 is the 2018.03 AMI.
	{"amzn", "2018.03"}: "2023-12-31",
	{"amzn", "2"}:       "2026-06-30",
	{"amzn", "2023"}:    "2029-06-30",
}

// eol returns the end of security support of a release, zero when the
// table has none.
func eol(family, release string) time.Time {
	s, ok := eolTable[eolKey{family, release}]
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic("osrelease: bad date in eolTable: " + s) // caught by TestEOLTable
	}
	return t
}

// debianCodenames maps Debian majors to codenames, both ways: debian_version
// of a stable release gives only the number, and testing gives only the
// codename ("trixie/sid").
var debianCodenames = map[string]string{
	"7": "wheezy", "8": "jessie", "9": "stretch", "10": "buster",
	"11": "bullseye", "12": "bookworm", "13": "trixie", "14": "forky", "15": "duke",
}

func debianMajor(codename string) string {
	for major, c := range debianCodenames {
		if c == codename {
			return major
		}
	}
	return ""
}
