package dockerfile

import (
	"cmp"
	"slices"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// Rule IDs.
const (
	RuleUserRoot            = "dockerfile-user-root"
	RuleBaseLatest          = "dockerfile-base-latest"
	RuleBaseUnpinned        = "dockerfile-base-unpinned"
	RuleStageUndefined      = "dockerfile-stage-undefined"
	RulePlatformHardcoded   = "dockerfile-platform-hardcoded"
	RuleAddLocal            = "dockerfile-add-local"
	RuleAddURL              = "dockerfile-add-url"
	RuleCurlPipeShell       = "dockerfile-curl-pipe-shell"
	RuleAptRecommends       = "dockerfile-apt-no-install-recommends"
	RuleAptLists            = "dockerfile-apt-lists-not-cleaned"
	RuleApkNoCache          = "dockerfile-apk-no-cache"
	RuleYumClean            = "dockerfile-yum-no-clean"
	RulePkgUnpinned         = "dockerfile-pkg-unpinned"
	RulePkgUpgrade          = "dockerfile-pkg-upgrade"
	RulePipNoCache          = "dockerfile-pip-no-cache-dir"
	RuleNpmInstall          = "dockerfile-npm-install"
	RuleUseraddLog          = "dockerfile-useradd-no-log-init"
	RuleSudo                = "dockerfile-sudo"
	RuleSecretValue         = "dockerfile-secret-value"
	RuleSecretName          = "dockerfile-secret-name"
	RuleExposeSSH           = "dockerfile-expose-ssh"
	RuleNoHealthcheck       = "dockerfile-no-healthcheck"
	RuleCopyContext         = "dockerfile-copy-context-no-dockerignore"
	RuleChmodWorld          = "dockerfile-chmod-world-writable"
	RuleWorkdirRelative     = "dockerfile-workdir-relative"
	RuleMultipleCmd         = "dockerfile-multiple-cmd"
	RuleShellFormEntrypoint = "dockerfile-shell-form-entrypoint"
	RuleRunCd               = "dockerfile-run-cd"
	RuleMaintainer          = "dockerfile-maintainer"
)

const (
	hadolint   = "https://github.com/hadolint/hadolint/wiki/"
	dockerRef  = "https://docs.docker.com/reference/dockerfile/"
	dockerBP   = "https://docs.docker.com/build/building/best-practices/"
	dockerRule = "https://docs.docker.com/reference/build-checks/"
)

func nist(id, title string) finding.Control {
	return finding.Control{Framework: finding.NIST800190, ID: id, Title: title}
}

// cisDocker is a CIS Docker Benchmark control, kept as reference text: the
// finding model has no framework constant for it.
func cisDocker(id string) string { return "CIS Docker Benchmark " + id }

// newRules returns a fresh copy of every rule, by ID.
func newRules() map[string]*finding.Rule {
	rs := []*finding.Rule{
		{
			ID: RuleUserRoot, Title: "Image runs as root", Severity: finding.High,
			Description: "The final stage sets no USER, or its last USER is root (root, 0, 0:0): the container's process runs as root unless the orchestrator overrides it, so a compromise of the process is a compromise of root in the container and one kernel or runtime bug away from the node. Only the final stage matters: it is the image that ships; a USER in an earlier stage of the same file counts when the final stage is built FROM it.",
			Remediation: "Create an unprivileged user and switch to it at the end of the final stage: `RUN useradd -r -u 10001 app` then `USER 10001`.",
			References:  []string{hadolint + "DL3002", dockerBP + "#user", cisDocker("4.1")},
			Controls:    []finding.Control{nist("4.1.2", "Image configuration defects")},
		},
		{
			ID: RuleBaseLatest, Title: "Base image uses the latest tag or no tag", Severity: finding.Medium,
			Description: "A base image without a tag, or tagged latest, is whatever the registry serves on the day of the build: builds are not reproducible and an unreviewed major version can arrive unannounced.",
			Remediation: "Name an explicit version tag, ideally with its digest: `FROM alpine:3.20@sha256:…`.",
			References:  []string{hadolint + "DL3006", hadolint + "DL3007", dockerBP + "#from"},
			Controls:    []finding.Control{nist("4.1.5", "Use of untrusted images")},
		},
		{
			ID: RuleBaseUnpinned, Title: "Base image not pinned by digest", Severity: finding.Low,
			Description: "A tag can be moved to other content at any time, by the publisher or by whoever controls the registry: only a digest names exact, verifiable content. (Untagged and latest bases are reported by " + RuleBaseLatest + " instead.)",
			Remediation: "Append the digest of the tested image to the tag: `FROM python:3.12-slim@sha256:…`, and let a bot (Renovate, Dependabot) update it.",
			References:  []string{dockerBP + "#pin-base-image-versions", cisDocker("4.2")},
			Controls:    []finding.Control{nist("4.1.5", "Use of untrusted images")},
		},
		{
			ID: RuleStageUndefined, Title: "Reference to an undefined build stage", Severity: finding.High,
			Description: "`COPY --from=NAME` names no stage of the file, where NAME looks like a stage name (no '/', ':' or '.'): BuildKit silently pulls the image docker.io/library/NAME:latest instead, usually a typo of a stage name that copies files from whoever owns that name on Docker Hub. A numeric --from beyond the stages defined so far, and `FROM NAME` naming a stage defined only later in the file (FROM can only refer to earlier stages), are reported too.",
			Remediation: "Fix the stage name, or when an image is meant, name it fully with a tag: `COPY --from=docker.io/library/busybox:1.36 …`.",
			References:  []string{hadolint + "DL3022", dockerRef + "#copy---from"},
			Controls:    []finding.Control{nist("4.1.5", "Use of untrusted images")},
		},
		{
			ID: RulePlatformHardcoded, Title: "FROM --platform hardcoded", Severity: finding.Low,
			Description: "A constant `--platform` in FROM forces one architecture whatever the build targets: multi-platform builds silently ship the wrong binaries or run under emulation. Values built from variables ($BUILDPLATFORM, $TARGETPLATFORM, $TARGETOS/$TARGETARCH) are the intended use and are not reported.",
			Remediation: "Drop the flag, or use `--platform=$BUILDPLATFORM` for build stages that cross-compile.",
			References:  []string{hadolint + "DL3029", dockerRule + "from-platform-flag-const-disallowed"},
		},
		{
			ID: RuleAddLocal, Title: "ADD used where COPY serves", Severity: finding.Low,
			Description: "ADD also unpacks local archives and fetches URLs; for plain local files it does what COPY does with surprising extra behaviour, and a later change of the source (a file renamed to .tar) changes what lands in the image.",
			Remediation: "Use COPY for local files and directories; keep ADD for archives to unpack and checksummed remote sources.",
			References:  []string{hadolint + "DL3020", dockerBP + "#add-or-copy", cisDocker("4.9")},
		},
		{
			ID: RuleAddURL, Title: "ADD from a URL without checksum", Severity: finding.Medium,
			Description: "ADD of an http(s) or git URL downloads at build time whatever the server returns, with no integrity check: a compromised or changed server changes the image. `ADD --checksum=sha256:…` verifies the download and is not reported.",
			Remediation: "Add `--checksum=sha256:<digest>` to the ADD, or download with curl and verify the checksum in the same RUN.",
			References:  []string{dockerRef + "#add---checksum", dockerBP + "#add-or-copy", cisDocker("4.9")},
			Controls:    []finding.Control{nist("4.1.5", "Use of untrusted images")},
		},
		{
			ID: RuleCurlPipeShell, Title: "Download piped into a shell", Severity: finding.High,
			Description: "`curl … | sh`, `wget -O- … | bash` or `bash <(curl …)` runs whatever the server returns, unverified, as the build user (often root): a compromised or spoofed server owns the image, and a download cut short runs a truncated script.",
			Remediation: "Download to a file, verify its checksum or signature, then run it: `curl -fsSLo install.sh URL && echo \"<sha256>  install.sh\" | sha256sum -c - && sh install.sh`.",
			References:  []string{hadolint + "DL4006", "https://www.idontplaydarts.com/2016/04/detecting-curl-pipe-bash-server-side/"},
			Controls:    []finding.Control{nist("4.1.5", "Use of untrusted images")},
		},
		{
			ID: RuleAptRecommends, Title: "apt-get install without --no-install-recommends", Severity: finding.Low,
			Description: "apt installs recommended packages by default: more packages than asked for, each one more attack surface and more vulnerabilities to patch.",
			Remediation: "Use `apt-get install -y --no-install-recommends …`.",
			References:  []string{hadolint + "DL3015", dockerBP + "#apt-get"},
			Controls:    []finding.Control{nist("4.1.1", "Image vulnerabilities")},
		},
		{
			ID: RuleAptLists, Title: "apt lists not removed in the same RUN", Severity: finding.Low,
			Description: "apt-get install without `rm -rf /var/lib/apt/lists/*` in the same RUN leaves the package lists in the layer (tens of MB); removing them in a later RUN does not shrink the image. A cache mount on /var/lib/apt/lists (RUN --mount=type=cache) keeps them out of the layer and is not reported.",
			Remediation: "End the RUN with `&& rm -rf /var/lib/apt/lists/*`, or use `RUN --mount=type=cache,target=/var/lib/apt/lists …`.",
			References:  []string{hadolint + "DL3009", dockerBP + "#apt-get"},
		},
		{
			ID: RuleApkNoCache, Title: "apk add without --no-cache", Severity: finding.Low,
			Description: "apk add without --no-cache keeps the package index in /var/cache/apk in the layer.",
			Remediation: "Use `apk add --no-cache …` (or a cache mount on /var/cache/apk).",
			References:  []string{hadolint + "DL3019"},
		},
		{
			ID: RuleYumClean, Title: "yum/dnf/zypper install without cleaning the cache", Severity: finding.Low,
			Description: "yum, dnf, microdnf and zypper keep downloaded metadata and packages in the layer unless the same RUN cleans them (`yum clean all`, `dnf clean all`, `zypper clean`, or rm -rf of /var/cache/yum or /var/cache/dnf).",
			Remediation: "End the RUN with `&& dnf clean all` (yum, microdnf: `clean all`; zypper: `zypper clean -a`).",
			References:  []string{hadolint + "DL3032", hadolint + "DL3040", hadolint + "DL3036"},
		},
		{
			ID: RulePkgUnpinned, Title: "Package installed without a version pin", Severity: finding.Low,
			Description: "Packages installed without a version (apt `pkg=1.2-1`, apk `pkg=1.2-r0`, pip `pkg==1.2`, npm -g `pkg@1.2`, gem `-v 1.2`) change from build to build: builds are not reproducible and a compromised or broken release is picked up silently. Arguments with variables, local paths, URLs and wheel files are not judged.",
			Remediation: "Pin each package to the tested version, or install from a lock file (`pip install -r requirements.txt` with hashes, `npm ci`).",
			References:  []string{hadolint + "DL3008", hadolint + "DL3018", hadolint + "DL3013", hadolint + "DL3016", hadolint + "DL3028"},
			Controls:    []finding.Control{nist("4.1.5", "Use of untrusted images")},
		},
		{
			ID: RulePkgUpgrade, Title: "Whole-system package upgrade in a build", Severity: finding.Medium,
			Description: "`apt-get upgrade`, `dist-upgrade`, `apk upgrade`, `yum update` and the like upgrade everything the base image ships, to whatever is current on build day: the result differs from the tested base and from build to build. Fixes belong in the base image: rebuild on an updated base instead.",
			Remediation: "Use a current base image (pinned by digest, updated by a bot); install only the specific packages needed, at pinned versions.",
			References:  []string{hadolint + "DL3005", dockerBP + "#apt-get"},
		},
		{
			ID: RulePipNoCache, Title: "pip install without --no-cache-dir", Severity: finding.Low,
			Description: "pip keeps downloaded wheels in ~/.cache/pip, which stays in the layer. Not reported when the stage sets PIP_NO_CACHE_DIR or the RUN has a cache mount.",
			Remediation: "Use `pip install --no-cache-dir …`, or `ENV PIP_NO_CACHE_DIR=1`.",
			References:  []string{hadolint + "DL3042"},
		},
		{
			ID: RuleNpmInstall, Title: "npm install instead of npm ci", Severity: finding.Low,
			Description: "`npm install` with no package arguments resolves dependency ranges anew and may update the lock file; `npm ci` installs exactly what package-lock.json says, or fails.",
			Remediation: "Use `npm ci` (with `--omit=dev` for production images).",
			References:  []string{"https://docs.npmjs.com/cli/commands/npm-ci"},
		},
		{
			ID: RuleUseraddLog, Title: "useradd with a large UID without -l", Severity: finding.Low,
			Description: "useradd writes the user into /var/log/lastlog and faillog, sparse files indexed by UID: with a large UID (from 100000) and no `-l`/`--no-log-init`, the layer holds gigabytes of zeros.",
			Remediation: "Add `-l` (`--no-log-init`) to useradd.",
			References:  []string{hadolint + "DL3046", "https://github.com/moby/moby/issues/5419"},
		},
		{
			ID: RuleSudo, Title: "sudo used in RUN", Severity: finding.Medium,
			Description: "RUN already runs as the current USER; sudo in a build means the image ships sudo and a sudoers policy, a privilege-escalation path for whoever gets a shell in the container, and its TTY and signal handling behaves unpredictably.",
			Remediation: "Switch with USER root before the commands that need it and back to the unprivileged user after; remove sudo from the image.",
			References:  []string{hadolint + "DL3004", cisDocker("4.1")},
			Controls:    []finding.Control{nist("4.1.2", "Image configuration defects")},
		},
		{
			ID: RuleSecretValue, Title: "Credential in ENV, ARG or LABEL", Severity: finding.Critical,
			Description: "A value in ENV, an ARG default or a LABEL is recognised as a credential. These values are stored in the image configuration and history: anyone who can pull the image can read them.",
			Remediation: "Revoke the credential. Pass secrets at build time with `RUN --mount=type=secret,id=…` and at run time through the orchestrator's secret store, never through ENV, ARG or LABEL.",
			References:  []string{dockerRef + "#run---mounttypesecret", dockerRule + "secrets-used-in-arg-or-env", cisDocker("4.10")},
			Controls:    []finding.Control{nist("4.1.4", "Embedded clear text secrets")},
		},
		{
			ID: RuleSecretName, Title: "Secret-named ARG or ENV with a value", Severity: finding.High,
			Description: "An ARG default or ENV value is set for a name that says it holds a secret (TOKEN, SECRET, PASSWORD, API_KEY, PRIVATE_KEY…). ARG and ENV values are recorded in the image history and configuration; an ENV that copies a build argument (`ENV NPM_TOKEN=$NPM_TOKEN`) writes the argument's value into the image. Names ending in _FILE, _PATH, _URL, _ID and the like, and boolean values, are not reported.",
			Remediation: "Use a build secret: `RUN --mount=type=secret,id=npm_token NPM_TOKEN=$(cat /run/secrets/npm_token) npm ci`. Never default a secret ARG.",
			References:  []string{dockerRule + "secrets-used-in-arg-or-env", dockerRef + "#run---mounttypesecret", cisDocker("4.10")},
			Controls:    []finding.Control{nist("4.1.4", "Embedded clear text secrets")},
		},
		{
			ID: RuleExposeSSH, Title: "SSH port exposed", Severity: finding.Medium,
			Description: "EXPOSE 22 means an SSH server in the container: another service to patch, credentials to manage and a way in that bypasses the orchestrator's exec audit.",
			Remediation: "Remove the SSH server; use `kubectl exec` or `docker exec` to get a shell.",
			References:  []string{hadolint + "DL3011", cisDocker("5.6")},
			Controls:    []finding.Control{nist("4.1.2", "Image configuration defects")},
		},
		{
			ID: RuleNoHealthcheck, Title: "No HEALTHCHECK in the final stage", Severity: finding.Low,
			Description: "Without HEALTHCHECK, Docker and Compose cannot tell a hung process from a working one. (Kubernetes ignores HEALTHCHECK and uses probes: ignore this rule for Kubernetes-only images.) `HEALTHCHECK NONE` is an explicit decision and is not reported.",
			Remediation: "Add `HEALTHCHECK CMD [\"/app\", \"healthcheck\"]`, or `HEALTHCHECK NONE` to record that there is none on purpose.",
			References:  []string{dockerRef + "#healthcheck", cisDocker("4.6")},
		},
		{
			ID: RuleCopyContext, Title: "Whole build context copied without .dockerignore", Severity: finding.Medium,
			Description: "`COPY . .` or `ADD . …` with no .dockerignore beside the Dockerfile copies everything in the context into the image: .git (with its history), .env files, credentials, local build output.",
			Remediation: "Add a .dockerignore (or <name>.dockerignore next to a named Dockerfile) excluding .git, secrets and build output, or copy only the paths needed.",
			References:  []string{"https://docs.docker.com/build/concepts/context/#dockerignore-files", cisDocker("4.10")},
			Controls:    []finding.Control{nist("4.1.4", "Embedded clear text secrets")},
		},
		{
			ID: RuleChmodWorld, Title: "World-writable permissions (chmod 777)", Severity: finding.Medium,
			Description: "chmod giving others write permission (777, 666, a+rwx, o+w…) lets any user in the container, or any process running under another UID, change the files: binaries and configuration can be replaced. Modes with the sticky bit (1777, for /tmp-like directories) are not reported.",
			Remediation: "Give ownership to the user that needs it (`COPY --chown=app:app`, `chown`) and use 755/644 or tighter.",
			References:  []string{"https://www.cisecurity.org/benchmark/docker"},
			Controls:    []finding.Control{nist("4.1.2", "Image configuration defects")},
		},
		{
			ID: RuleWorkdirRelative, Title: "Relative WORKDIR", Severity: finding.Low,
			Description: "A relative WORKDIR resolves against the previous one, so its meaning depends on the base image and on instructions above it.",
			Remediation: "Use an absolute path: `WORKDIR /app`.",
			References:  []string{hadolint + "DL3000", dockerRule + "workdir-relative-path"},
		},
		{
			ID: RuleMultipleCmd, Title: "More than one CMD or ENTRYPOINT in a stage", Severity: finding.Medium,
			Description: "Only the last CMD and the last ENTRYPOINT of a stage take effect; the earlier ones are dead code that misleads the reader about what the container runs.",
			Remediation: "Keep one CMD and one ENTRYPOINT per stage.",
			References:  []string{hadolint + "DL4003", hadolint + "DL4004", dockerRule + "multiple-instructions-disallowed"},
		},
		{
			ID: RuleShellFormEntrypoint, Title: "Shell-form ENTRYPOINT or CMD in the final stage", Severity: finding.Low,
			Description: "Shell form runs the command as `/bin/sh -c …`: PID 1 is the shell, which does not forward SIGTERM, so the application is killed after the grace period instead of shutting down cleanly; a shell-form ENTRYPOINT also ignores CMD and arguments.",
			Remediation: "Use the JSON (exec) form: `ENTRYPOINT [\"/app\"]`, `CMD [\"--port\", \"8080\"]`; if a shell is needed, end the script with `exec`.",
			References:  []string{hadolint + "DL3025", dockerRule + "json-args-recommended"},
		},
		{
			ID: RuleRunCd, Title: "cd in RUN instead of WORKDIR", Severity: finding.Low,
			Description: "A RUN that starts with `cd dir && …` changes directory for that RUN only; WORKDIR says it once, for every instruction after it, and is easier to read. (cd inside a subshell is not reported.)",
			Remediation: "Use `WORKDIR /dir` before the RUN.",
			References:  []string{hadolint + "DL3003", dockerBP + "#workdir"},
		},
		{
			ID: RuleMaintainer, Title: "Deprecated MAINTAINER", Severity: finding.Info,
			Description: "MAINTAINER is deprecated since Docker 1.13.",
			Remediation: "Use `LABEL org.opencontainers.image.authors=\"…\"`.",
			References:  []string{hadolint + "DL4000", dockerRule + "maintainer-deprecated"},
		},
	}
	m := make(map[string]*finding.Rule, len(rs))
	for _, r := range rs {
		m[r.ID] = r
	}
	return m
}

// Rules returns every rule of the Dockerfile linter, sorted by ID.
func Rules() []*finding.Rule {
	m := newRules()
	rs := make([]*finding.Rule, 0, len(m))
	for _, r := range m {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *finding.Rule) int { return cmp.Compare(a.ID, b.ID) })
	return rs
}
