# %preun of nimsforest-nats ($1: 0 on erase, 1 or more on upgrade).
# On erase, stop (draining clients through lame-duck mode) and disable, as
# Fedora's %systemd_preun does. Configuration and data are kept.
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl stop nimsforest-nats.service >/dev/null 2>&1 || :
    fi
    systemctl --no-reload disable nimsforest-nats.service >/dev/null 2>&1 || :
fi
