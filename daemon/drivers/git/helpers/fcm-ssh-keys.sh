#!/bin/sh
# fcm: sshd's AuthorizedKeysCommand, called as: fcm-ssh-keys %u %f
# (daemon/drivers/git/helpers.ts installs it with the socket path filled in.)
#
# sshd runs it as the git user (AuthorizedKeysCommandUser), twice per
# connection: it is a shell script around curl because curl starts in a
# fraction of Node's time. It prints the authorized_keys line of a key
# registered with fcm (restricted to fcm's git-only forced command), or
# nothing. Only root@ is fcm's git login; the fingerprint is what sshd
# offers: SHA256:<43 base64 characters>. On a refusal the daemon answers a
# problem document, which --fail keeps off stdout (sshd would read it as
# keys); curl's one-line error goes to sshd's log.
set -u
socket='@FCM_SOCKET@'
[ "$#" -eq 2 ] || exit 0
[ "$1" = root ] || exit 0
case "$2" in SHA256:*) ;; *) exit 0 ;; esac
fp=${2#SHA256:}
case "$fp" in *[!A-Za-z0-9+/]*) exit 0 ;; esac
[ ${#fp} -eq 43 ] || exit 0
exec curl -sS --fail --max-time 5 --unix-socket "$socket" -H "@FINGERPRINT_HEADER@: $2" 'http://fcm@KEYS_PATH@'
