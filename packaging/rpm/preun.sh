#!/bin/sh
# ventapp .rpm %preun. $1 is 0 when the package is being erased (not
# upgraded): stop and disable the service then.
if [ "$1" -eq 0 ]; then
	if [ -d /run/systemd/system ]; then
		systemctl stop ventapp.service || true
	fi
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable ventapp.service >/dev/null 2>&1 || true
	fi
fi
exit 0
