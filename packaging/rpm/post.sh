#!/bin/sh
# ventapp .rpm %post. $1 is 1 on a first install and 2 or more on an
# upgrade. Creates the state and drop folders; enables and starts the
# service on a first install and restarts it on an upgrade.
unit=ventapp.service

drop_folder() {
	dir=""
	if [ -r /etc/ventapp/vent.cfg ]; then
		dir=$(awk '
			/^[ \t]*\[/ { insec = ($0 ~ /^[ \t]*\[main\][ \t]*$/); next }
			insec && /^[ \t]*files[ \t]*[=:]/ { sub(/^[^=:]*[=:][ \t]*/, ""); sub(/[ \t]+$/, ""); v = $0 }
			END { print v }' /etc/ventapp/vent.cfg)
	fi
	case "$dir" in
	/*) printf '%s\n' "$dir" ;;
	*) printf '%s\n' /opt/vent_files ;;
	esac
}

install -d -m 0750 /var/lib/ventapp
install -d -m 0755 "$(drop_folder)"

if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
	systemctl enable "$unit" >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if [ "$1" -eq 1 ]; then
		systemctl start "$unit" || true
	else
		systemctl try-restart "$unit" || true
	fi
fi
exit 0
