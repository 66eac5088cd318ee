# %preun of nimsforest-forest-@FOREST@ ($1: 0 on erase).
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl stop nimsforest-forest-update.timer >/dev/null 2>&1 || :
    fi
    systemctl --no-reload disable nimsforest-forest-update.timer >/dev/null 2>&1 || :
fi
