# %post of nimsforest-forest-@FOREST@ ($1: 1 on install, 2 or more on upgrade).
# The timer that takes the next versions is enabled on first install; every
# version reaches the server with a reload (never a restart).
if [ "$1" -eq 1 ]; then
    systemctl --no-reload enable nimsforest-forest-update.timer >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    systemctl start nimsforest-forest-update.timer >/dev/null 2>&1 || :
fi
/usr/libexec/nimsforest-forest/apply
