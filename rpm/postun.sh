# %postun of nimsforest-nats ($1: 0 on erase, 1 or more on upgrade).
# As Fedora's %systemd_postun_with_restart: reload unit files, and after an
# upgrade restart the server onto the new binary if it is running.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart nimsforest-nats.service >/dev/null 2>&1 || :
    fi
fi
