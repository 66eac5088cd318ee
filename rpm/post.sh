# %post of nimsforest-nats ($1: 1 on install, 2 or more on upgrade).

# State and log directories: the package itself carries them with their owner
# and mode; tmpfiles.d repairs them if they were changed (and recreates them at
# boot). systemd-tmpfiles needs /proc, which a chroot may lack.
if [ -d /run/systemd/system ] && command -v systemd-tmpfiles >/dev/null 2>&1; then
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/nimsforest-nats.conf || :
fi

# Writes /etc/nimsforest/cluster.conf unless it already exists.
/opt/nimsforest/bin/nimsforest-cluster-conf || exit 1
# sizing.conf, which nats.conf includes (made again before every start).
# Without /proc (a chroot) the server's first start does it.
/opt/nimsforest/bin/nimsforest-sizing ||
    echo "nimsforest-nats: sizing.conf is written when the server starts"

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
            # Waits for the server's health (nimsforest-nats-ready).
            if ! systemctl start nimsforest-nats.service >/dev/null 2>&1; then
                echo "nimsforest-nats: the server did not become ready (journalctl -u nimsforest-nats)" >&2
            fi
        fi
    fi
fi
