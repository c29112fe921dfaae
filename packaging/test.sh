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
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w -X main.version=v9.8.7 -X main.commit=cafe123' \
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
	check "deb depends" sh -c "dpkg-deb -f '$deb' Depends | grep -qx 'containerd, runc'"
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
	check "lintian: no errors or warnings except no-manual-page" sh -c \
		"! lintian --tag-display-limit 0 '$deb' 2>/dev/null | grep -E '^[EW]:' | grep -v no-manual-page"
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

echo "packaging: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
