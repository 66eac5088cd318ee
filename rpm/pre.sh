# %pre of nimsforest-nats ($1: 1 on install, 2 or more on upgrade).
# Create the service account before the files it owns are unpacked.
# Idempotent; the account is never removed.
getent group nimsforest >/dev/null || groupadd -r nimsforest || exit 1
getent passwd nimsforest >/dev/null ||
    useradd -r -g nimsforest -d /var/lib/nimsforest -M -s /usr/sbin/nologin \
        -c "NimsForest NATS server" nimsforest || exit 1
