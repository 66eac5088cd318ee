# %post of nimsforest-nats ($1: 1 on install, 2 or more on upgrade).

# State and log directories: the package itself carries them with their owner
# and mode; tmpfiles.d repairs them if they were changed (and recreates them at
# boot). systemd-tmpfiles needs /proc, which a chroot may lack.
if [ -d /run/systemd/system ] && command -v systemd-tmpfiles >/dev/null 2>&1; then
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/nimsforest-nats.conf || :
fi

# Writes /etc/nimsforest/cluster.conf unless it already exists.
/opt/nimsforest/bin/nimsforest-cluster-conf || exit 1

# First install: enable (also offline, e.g. in an image build) and start when
# systemd runs. Unlike Fedora's %systemd_post this does not defer to presets:
# the package's purpose is a running node. Upgrades restart in %postun.
# A node of a closed forest (its key is there) runs once its forest's trust
# package is there too: that package starts the server when it arrives.
if [ "$1" -eq 1 ]; then
    systemctl --no-reload enable nimsforest-nats.service >/dev/null 2>&1 || :
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
        if [ -e /etc/nimsforest/forest/node-key.pem ] && [ ! -e /etc/nimsforest/forest.conf ]; then
            echo "nimsforest-nats: the server starts when the forest's trust package (nimsforest-forest-*) is installed"
        else
            systemctl start nimsforest-nats.service >/dev/null 2>&1 || :
        fi
    fi
fi
