#!/bin/sh
# ventapp .rpm %postun. rpm has no purge: an erase keeps /var/lib/ventapp
# (the state) and saves an edited /etc/ventapp/vent.cfg as vent.cfg.rpmsave.
# Delete /var/lib/ventapp by hand to drop the state. The drop folder's
# files are the user's and are never deleted.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
