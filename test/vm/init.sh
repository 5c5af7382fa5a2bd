#!/bin/busybox sh
# PID 1 of the nkit test VM (busybox sh). Built into the initramfs as /init
# by test/vm/initramfs.ts and run twice:
#   stage 1 (/init, in the initramfs): load the modules, mount the host's /
#     (9p, read-only) as the lower layer of an overlay with a tmpfs upper,
#     mount the API file systems under it and switch_root onto it. Mounting
#     proc/sys/tmpfs directly over directories of a cached 9p mount proved
#     unreliable; the overlay also gives the guest a writable root that never
#     writes through to the host.
#   stage 2 (/.nkit-vm/init stage2, on the new root): run the job with its
#     output on virtio-serial ports, report the exit code on the status port
#     and power off (qemu runs with -no-reboot, so a reboot ends it).
# The host's side is test/vm/qemu.ts; the job directory (host path in
# nkit.job= on the kernel command line) holds boot.conf and job.sh.
#
# Every exec costs tens of milliseconds under TCG, so this script uses shell
# builtins (read, echo, case) where it can and batches mounts through fstab
# files (mount -a -T).

BB=/bin/busybox
[ "$1" = stage2 ] && BB=/.nkit-vm/busybox

fail() {
  echo "nkit-vm init: $*" >/dev/console
  [ -n "$STATUS" ] && echo "error $*" >"$STATUS"
  $BB reboot -f
  $BB sleep 10
}

# With nkit.debug on the kernel command line, steps go to the console with
# the uptime (see vm-run --verbose).
trace() {
  [ -n "$DEBUG" ] || return 0
  up=?
  { read -r up _ </proc/uptime; } 2>/dev/null
  echo "nkit-vm init: $up $*" >/dev/console
}

read_cmdline() {
  read -r CMDLINE </proc/cmdline
  DEBUG=
  JOB=
  for word in $CMDLINE; do
    case $word in
      nkit.debug) DEBUG=1 ;;
      nkit.job=*) JOB=${word#nkit.job=} ;;
    esac
  done
}

# The ports carry the names the host gave them (nkit.stdout, ...).
find_ports() {
  for p in /sys/class/virtio-ports/*; do
    [ -e "$p/name" ] || continue
    read -r name <"$p/name"
    case $name in
      nkit.stdout) STDOUT=/dev/${p##*/} ;;
      nkit.stderr) STDERR=/dev/${p##*/} ;;
      nkit.status) STATUS=/dev/${p##*/} ;;
    esac
  done
}

stage1() {
  echo "proc /proc proc defaults 0 0
sysfs /sys sysfs defaults 0 0
devtmpfs /dev devtmpfs defaults 0 0" >/etc/fstab.early
  $BB mount -a -T /etc/fstab.early
  read_cmdline
  find_ports
  trace "stage 1"
  [ -n "$JOB" ] || fail "no nkit.job= on the kernel command line"
  read -r kver </proc/sys/kernel/osrelease

  # modules.dep in the initramfs comes from the kernel's, cut to these.
  read -r modules </lib/modules/load
  $BB modprobe -a $modules || fail "modprobe $modules failed"
  trace "modules loaded"

  # multidevs=remap on the host side keeps inode numbers of the host's many
  # file systems (/, /proc, /sys, tmpfs ...) apart; msize 500k (the virtio
  # maximum) speeds reads; cache=loose is safe as the share is read-only.
  echo "hostroot /lower 9p trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 0 0
rw /rw tmpfs mode=0755 0 0" >/etc/fstab.lower
  $BB mount -a -T /etc/fstab.lower || fail "mounting the host's root over 9p failed"
  $BB mkdir -p /rw/upper /rw/work
  $BB mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work \
    overlay /newroot || fail "overlay root failed"
  trace "root mounted"

  [ -r "/lower$JOB/boot.conf" ] || fail "cannot read $JOB/boot.conf over 9p"
  . "/lower$JOB/boot.conf"
  $BB mkdir -p /newroot/.nkit-vm "/newroot/lib/modules/$kver" /dev/pts /dev/shm
  $BB cp -a /bin/busybox /init "/lower$JOB/job.sh" /newroot/.nkit-vm/
  $BB cp -a /devlinks/. /dev/
  # The guest kernel's whole modules tree, so modprobe works in the guest.
  bind=
  [ -n "$NKIT_MODULES" ] && [ -d "/lower$NKIT_MODULES" ] &&
    bind="/lower$NKIT_MODULES /newroot/lib/modules/$kver none bind 0 0"
  # A working directory under /tmp would vanish under the guest's tmpfs:
  # hold it aside (still the overlay, so writable) and put it back after.
  if [ -n "$NKIT_KEEP" ] && [ -d "/newroot$NKIT_KEEP" ]; then
    $BB mkdir -p /newroot/.nkit-vm/keep
    $BB mount --bind "/newroot$NKIT_KEEP" /newroot/.nkit-vm/keep || fail "cannot hold $NKIT_KEEP aside"
  fi
  echo "/dev /newroot/dev none move 0 0
/proc /newroot/proc none move 0 0
/sys /newroot/sys none move 0 0
$bind
devpts /newroot/dev/pts devpts newinstance,ptmxmode=0666,mode=0620 0 0
shm /newroot/dev/shm tmpfs mode=1777 0 0
run /newroot/run tmpfs mode=0755 0 0
tmp /newroot/tmp tmpfs mode=1777 0 0
cgroup2 /newroot/sys/fs/cgroup cgroup2 defaults 0 0
bpf /newroot/sys/fs/bpf bpf mode=0700 0 0
tracefs /newroot/sys/kernel/tracing tracefs nofail 0 0" >/etc/fstab.late
  $BB mount -a -T /etc/fstab.late || fail "mounting the API file systems failed"
  if [ -n "$NKIT_KEEP" ] && [ -d /newroot/.nkit-vm/keep ]; then
    $BB mkdir -p "/newroot$NKIT_KEEP"
    $BB mount --move /newroot/.nkit-vm/keep "/newroot$NKIT_KEEP" || fail "cannot put $NKIT_KEEP back"
  fi
  echo nkit-vm >/newroot/proc/sys/kernel/hostname
  $BB ip link set lo up
  trace "API file systems mounted, switching root"
  exec $BB switch_root /newroot /.nkit-vm/busybox sh /.nkit-vm/init stage2
  fail "switch_root failed"
}

stage2() {
  read_cmdline
  find_ports
  [ -n "$STDOUT" ] && [ -n "$STDERR" ] && [ -n "$STATUS" ] ||
    fail "virtio-serial ports nkit.stdout/stderr/status missing"
  trace "running the job"
  read -r kver </proc/sys/kernel/osrelease
  echo "kernel $kver" >"$STATUS"
  (. /.nkit-vm/job.sh) </dev/null >"$STDOUT" 2>"$STDERR"
  echo "exit $?" >"$STATUS"
  $BB reboot -f
}

if [ "$1" = stage2 ]; then
  cd / && stage2
else
  stage1
fi
fail "init fell through"
