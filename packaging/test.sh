#!/bin/sh
# Builds the .deb and .rpm from a freshly built binary and checks their
# contents, conffiles, dependencies and scripts without installing them.
# Run from the repository root: sh packaging/test.sh. Tools that are
# missing (dpkg-deb, rpm, lintian, systemd-analyze) skip their checks.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
pass=0
check() { # check NAME COMMAND...
	name=$1; shift
	if "$@" >"$work/out" 2>&1; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $name"; cat "$work/out"; fi
}

cd "$root"
CGO_CFLAGS="-O2 -Wno-deprecated-declarations" CGO_ENABLED=1 go build -trimpath -buildmode=pie -ldflags '-s -w -X main.version=v9.8.7 -X main.commit=cafe123' \
	-o "$work/ventapp" ./cmd/ventapp
(cd packaging && go run ./cmd/mkpkg -bin "$work/ventapp" -version v9.8.7 -commit cafe123 \
	-defaults ../config/default.cfg -out "$work/dist") >"$work/built"
deb=$(grep '\.deb$' "$work/built")
rpmf=$(grep '\.rpm$' "$work/built")

check "version stamped" sh -c "'$work/ventapp' version | grep -q 'ventapp v9.8.7 (commit cafe123)'"

if command -v dpkg-deb >/dev/null; then
	dpkg-deb -c "$deb" >"$work/list"
	for p in ./usr/bin/ventapp ./etc/ventapp/vent.cfg ./lib/systemd/system/ventapp.service \
		./var/lib/ventapp/ ./usr/share/doc/ventapp/copyright; do
		check "deb holds $p" grep -q " $p\$" "$work/list"
	done
	check "deb conffile" sh -c "dpkg-deb -I '$deb' conffiles | grep -qx /etc/ventapp/vent.cfg"
	check "deb depends" sh -c "dpkg-deb -f '$deb' Depends | tr -d ' ' | tr ',' '\\n' | sort | tr '\\n' ' ' | grep -qx 'containerd libc6 libpcap0.8 runc '"
	check "deb version" sh -c "dpkg-deb -f '$deb' Version | grep -qx '9.8.7-1'"
	mkdir "$work/x"
	dpkg-deb -x "$deb" "$work/x"
	check "shipped config parses and only comments keys" sh -c \
		"'$work/ventapp' --config '$work/x/etc/ventapp/vent.cfg' config default >/dev/null &&
		! grep -Eq '^[a-z_]+ *=' '$work/x/etc/ventapp/vent.cfg'"
	for s in postinst prerm postrm; do
		check "deb $s is sh" sh -c "dpkg-deb --ctrl-tarfile '$deb' | tar -xOf - ./$s | sh -n"
	done
else
	echo "SKIP: dpkg-deb missing"
fi

if command -v rpm >/dev/null; then
	check "rpm files" sh -c "rpm -qpl '$rpmf' | grep -qx /usr/lib/systemd/system/ventapp.service"
	check "rpm conffile" sh -c "rpm -qpc '$rpmf' | grep -qx /etc/ventapp/vent.cfg"
	check "rpm requires" sh -c "rpm -qpR '$rpmf' | grep -qx containerd && rpm -qpR '$rpmf' | grep -qx runc"
	check "rpm noreplace" sh -c "rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' '$rpmf' | grep -q '^cn /etc/ventapp/vent.cfg'"
	check "rpm scripts" sh -c "rpm -qp --scripts '$rpmf' | grep -q 'try-restart'"
else
	echo "SKIP: rpm missing"
fi

if command -v lintian >/dev/null; then
	check "lintian: no errors or warnings" sh -c \
		"! lintian --tag-display-limit 0 '$deb' 2>/dev/null | grep -E '^[EW]:'"
else
	echo "SKIP: lintian missing"
fi
if command -v systemd-analyze >/dev/null; then
	# The unit names /usr/bin/ventapp; verify a copy pointing at the build.
	sed "s#/usr/bin/ventapp#$work/ventapp#" packaging/ventapp.service >"$work/ventapp.service"
	check "systemd-analyze verify" sh -c "systemd-analyze verify '$work/ventapp.service' 2>&1 | grep -v containerd.service | (! grep .)"
else
	echo "SKIP: systemd-analyze missing"
fi

# Install test (opt-in: VENTAPP_PKG_INSTALL=1, root): dpkg -i the .deb on
# this machine, check what it put where, remove, purge, and check what
# remains each time. It refuses to run over an existing installation and
# leaves the machine as it found it.
install_test() {
	if [ -e /var/lib/dpkg/info/ventapp.list ] || [ -e /etc/ventapp ] || [ -e /var/lib/ventapp ]; then
		fail=$((fail + 1))
		echo "FAIL: install test: ventapp is installed or left files here; not touching them"
		return
	fi
	# What systemd state the scripts may touch, to compare after the purge.
	snap() {
		find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
			/var/lib/systemd/deb-systemd-helper-masked -name '*ventapp*' 2>/dev/null | sort
	}
	snap >"$work/systemd.before"
	drop=/opt/vent_files
	drop_existed=no
	[ -d "$drop" ] && drop_existed=yes
	mkdir -p "$drop"
	keep="$drop/ventapp-pkg-test.$$.pcap"
	echo "user data" >"$keep"

	# A systemctl that records its calls. With systemd not running
	# (/run/systemd/system absent) only offline calls (--root=, made by
	# deb-systemd-helper for presets) may reach the real one; any call to
	# a running systemd fails, and the check below catches it.
	mkdir "$work/shim"
	real=$(command -v systemctl || echo /bin/false)
	cat >"$work/shim/systemctl" <<-EOF
	#!/bin/sh
	echo "systemctl \$*" >>"$work/systemctl.calls"
	case "\$1" in --root=*) exec "$real" "\$@" ;; esac
	exit 1
	EOF
	chmod 755 "$work/shim/systemctl"
	: >"$work/systemctl.calls"
	spath="$work/shim:$PATH"

	if ! PATH="$spath" dpkg -i "$deb" >"$work/dpkg.log" 2>&1; then
		echo "dpkg -i failed; resolving dependencies with apt-get install -f"
		PATH="$spath" apt-get install -f -y >>"$work/dpkg.log" 2>&1 || true
	fi
	check "installed" sh -c "dpkg-query -W -f='\${Status} \${Version}' ventapp | grep -qx 'install ok installed 9.8.7-1'"
	check "binary 0755 root:root" sh -c "[ \"\$(stat -c '%a %U:%G' /usr/bin/ventapp)\" = '755 root:root' ]"
	check "version from the installed binary" sh -c "ventapp version | grep -q 'ventapp v9.8.7 (commit cafe123)'"
	check "config 0644 root:root" sh -c "[ \"\$(stat -c '%a %U:%G' /etc/ventapp/vent.cfg)\" = '644 root:root' ]"
	check "config is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' ventapp | grep -q '^ /etc/ventapp/vent.cfg '"
	check "state dir 0750 root:root" sh -c "[ \"\$(stat -c '%a %U:%G' /var/lib/ventapp)\" = '750 root:root' ]"
	check "unit file" sh -c "[ \"\$(stat -c '%a' /lib/systemd/system/ventapp.service)\" = 644 ] &&
		grep -q '^Type=notify' /lib/systemd/system/ventapp.service"
	check "drop folder" test -d "$drop"
	check "enabled for boot" test -L /etc/systemd/system/multi-user.target.wants/ventapp.service
	check "dpkg -i clean" sh -c "! grep -Ei 'error|warning|failed' '$work/dpkg.log'"

	# The admin's edit to the conffile, and state, must outlive a remove.
	echo "# local edit" >>/etc/ventapp/vent.cfg
	echo state >/var/lib/ventapp/jobs.db
	PATH="$spath" dpkg -r ventapp >"$work/dpkg.log" 2>&1 || true
	check "removed" sh -c "dpkg-query -W -f='\${Status}' ventapp | grep -qx 'deinstall ok config-files'"
	check "binary gone after remove" test ! -e /usr/bin/ventapp
	check "unit gone after remove" test ! -e /lib/systemd/system/ventapp.service
	check "conffile kept on remove" grep -qx '# local edit' /etc/ventapp/vent.cfg
	check "state kept on remove" test -f /var/lib/ventapp/jobs.db
	check "dpkg -r clean" sh -c "! grep -Ei 'error|warning|failed' '$work/dpkg.log'"

	PATH="$spath" dpkg -P ventapp >"$work/dpkg.log" 2>&1 || true
	check "purged" sh -c "! dpkg-query -W ventapp 2>/dev/null | grep -q ."
	check "state gone after purge" test ! -e /var/lib/ventapp
	check "config gone after purge" test ! -e /etc/ventapp
	check "drop folder's files kept after purge" grep -qx 'user data' "$keep"
	check "dpkg -P clean" sh -c "! grep -Ei 'error|warning|failed' '$work/dpkg.log'"
	snap >"$work/systemd.after"
	check "systemd state as before" cmp "$work/systemd.before" "$work/systemd.after"
	if [ ! -d /run/systemd/system ]; then
		check "no systemctl call to a running systemd" sh -c "! grep -v -- ' --root=' '$work/systemctl.calls'"
	fi

	rm -f "$keep"
	if [ "$drop_existed" = no ]; then
		rmdir "$drop" 2>/dev/null || true
	fi
	# A failed step above may have left the package behind.
	if [ -e /var/lib/dpkg/info/ventapp.list ] || dpkg-query -W ventapp >/dev/null 2>&1; then
		dpkg -P ventapp >/dev/null 2>&1 || true
	fi
}

if [ "${VENTAPP_PKG_INSTALL:-}" = 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: install test needs root"
	elif ! command -v dpkg >/dev/null; then
		echo "SKIP: install test needs dpkg"
	else
		install_test
	fi
fi

echo "packaging: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
