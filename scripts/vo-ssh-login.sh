#!/bin/sh
# XOS-ssh end to end on the real OpenSSH, touching nothing of the machine:
# run it under `unshare -m` as root. It starts a throwaway sshd on 127.0.0.1
# with a private /run, passwd, group (adding pool accounts phys001-003) and
# /etc/pam.d (pam_xos in account and session, mode=ssh), trusting the XOS CA
# (TrustedUserCAKeys) and asking `xos-ams principals` which certificate may
# log in as which account; then logs in with KEY (and KEY-cert.pub) as USER
# and prints the session's user and XOS variables.
#   unshare -m sh scripts/vo-ssh-login.sh DIR BUILD_DIR PORT USER|xos-ssh KEY
# DIR holds ca/ (xos-ca init), ams.conf and the user's key and certificate.
set -e
D=$1 B=$2 PORT=$3 KEY=${5:-alice.key}
cd "$D"
mount -t tmpfs tmpfs /run
mkdir -p /run/sshd && chmod 755 /run/sshd
cp /etc/passwd passwd; cp /etc/group group
for n in 1 2 3; do
  echo "phys00$n:x:2000$n:2000$n::$D/home/phys00$n:/bin/sh" >> passwd
  echo "phys00$n:x:2000$n:" >> group
  mkdir -p home/phys00$n && chown 2000$n:2000$n home/phys00$n
done
mount --bind passwd /etc/passwd; mount --bind group /etc/group
mkdir -p pam.d-ssh
OPTS="debug mode=ssh cafile=$D/ca/ca.pem policy=$D/ams.conf leases=$D/leases"
printf "auth required $B/libpam_xos.so $OPTS\naccount required $B/libpam_xos.so $OPTS\nsession required $B/libpam_xos.so $OPTS\n" > pam.d-ssh/sshd
mount --bind pam.d-ssh /etc/pam.d
# sshd runs AuthorizedPrincipalsCommand only from a path no one but root can
# write, up to /: the build directory may sit under /tmp, so use a copy on a
# private tmpfs.
mount -t tmpfs -o mode=755 tmpfs /mnt
cp "$B/xos-ams" /mnt/xos-ams
rm -f hostkey hostkey.pub; ssh-keygen -q -t ed25519 -N '' -f hostkey
"$B/xos-ca" ssh-ca --cafile ca/ca.pem > ca-ssh.pub
cat > sshd_config <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $D/hostkey
PidFile $D/sshd.pid
UsePAM yes
ExposeAuthInfo yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile none
TrustedUserCAKeys $D/ca-ssh.pub
AuthorizedPrincipalsCommand /mnt/xos-ams principals --policy $D/ams.conf --leases $D/leases --cafile $D/ca/ca.pem %u %k
AuthorizedPrincipalsCommandUser root
StrictModes no
CONF
/usr/sbin/sshd -f sshd_config -D -e 2> sshd.log &
SSHD=$!
sleep 1
set +e
if [ "$4" = "xos-ssh" ]; then
  # The wrapper finds the account itself, from the node's leases and policy.
  HOME=$D "$B/xos-ssh" --key "$KEY" --leases "$D/leases" --policy "$D/ams.conf" -p "$PORT" \
      -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR \
      127.0.0.1 'echo "user=$(id -un) XOS_VO=$XOS_VO XOS_GUID=$XOS_GUID"'
else
  ssh -i "$KEY" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      -o BatchMode=yes -o LogLevel=ERROR -p "$PORT" "$4@127.0.0.1" 'echo "user=$(id -un) XOS_VO=$XOS_VO XOS_GUID=$XOS_GUID"'
fi
status=$?
kill $SSHD
exit $status
