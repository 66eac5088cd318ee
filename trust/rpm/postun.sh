# %postun of nimsforest-forest-@FOREST@: unit files changed.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
