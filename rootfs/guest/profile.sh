# fcm guest: /etc/profile.d/fcm.sh (login shells on the console)
if [ -r /run/fcm/boot.env ]; then
  # written by /usr/lib/fcm/rc.init from validated kernel command line values
  FCM_VM=$(sed -n 's/^FCM_VM=//p' /run/fcm/boot.env)
  export FCM_VM
fi
