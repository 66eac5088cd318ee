# %postun of nimsforest-nats ($1: 0 on erase, 1 or more on upgrade).
# As Fedora's %systemd_postun_with_restart: reload unit files, and after an
# upgrade restart the server onto the new binary if it is running. The restart
# waits for the server's health (nimsforest-nats-ready), so `dnf upgrade` returns
# once the node is current with its peers; a node that does not get there fails
# the scriptlet, with the reason in the journal.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        if ! systemctl try-restart nimsforest-nats.service >/dev/null 2>&1; then
            echo "nimsforest-nats: the server did not become ready (journalctl -u nimsforest-nats)" >&2
            exit 1
        fi
    fi
fi
