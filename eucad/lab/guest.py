"""The test guest's own programs: its ``/init`` and its DHCP client script.

They run inside the VM (busybox ash), not on the host; ``testimage`` packs
them into the initramfs.  Kept apart from the builder so that what the guest
does can be read in one place:

1. mount proc, sys and devtmpfs; insert the virtio modules in load order;
2. if there is an ``eth0``, run ``udhcpc`` with ``udhcpc.sh`` (address,
   default route, MTU from DHCP) and wait, bounded, for a lease;
3. take the instance id from ``eucad.instance_id=`` on the kernel command
   line, else from the metadata service (with ``nc``: busybox ``wget``
   crashes in this guest);
4. mount the root disk read-only if there is one, to show which image it is;
5. serve the instance id over HTTP on port 80 (busybox httpd), then print
   ``EUCAD-GUEST-UP <instance-id> <ip>`` on the serial console, so that a
   test seeing the marker knows the page is already served.
"""

MARKER = "EUCAD-GUEST-UP"

# Order matters: each module needs the ones before it (insmod does not
# resolve dependencies, and there is no modules.dep in the initramfs).
VIRTIO_MODULES = (
    "virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
    "virtio_pci", "failover", "net_failover", "virtio_net", "virtio_blk",
)

METADATA_HOST = "169.254.169.254"
METADATA_PATH = "/latest/meta-data/instance-id"

ROOT_MARKER_FILE = "eucad-test-root"
ROOT_MARKER_TEXT = "eucad test root image: the root disk of the eucad test guest\n"

UDHCPC_SCRIPT = r"""#!/bin/sh
# udhcpc calls this with the event as $1 and the lease in the environment
# ($ip, $mask as a prefix length, $broadcast, $router, $mtu).
ipfile=${EUCAD_IP_FILE:-/run/eucad-ip}
case "$1" in
deconfig)
    ip addr flush dev "$interface"
    ip link set dev "$interface" up
    rm -f "$ipfile"
    ;;
bound|renew)
    if [ -n "$mtu" ]; then
        ip link set dev "$interface" mtu "$mtu"
    fi
    if [ "$(cat "$ipfile" 2>/dev/null)" != "$ip" ]; then
        ip addr flush dev "$interface"
        ip addr add "$ip/$mask" broadcast "${broadcast:-+}" dev "$interface"
    fi
    ip route del default 2>/dev/null
    for r in $router; do
        ip route add default via "$r" dev "$interface"
        break
    done
    echo "$ip" > "$ipfile"
    ;;
esac
exit 0
"""

INIT_SCRIPT = r"""#!/bin/sh
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /run /tmp /www /mnt/root
exec </dev/console >/dev/console 2>&1
echo "eucad test guest: init starting"

for m in @MODULES@; do
    insmod "/lib/modules/$m.ko" || echo "eucad test guest: insmod $m failed"
done
ip link set lo up

ip=none
if [ -e /sys/class/net/eth0 ]; then
    ip link set eth0 up
    udhcpc -i eth0 -s /etc/udhcpc.sh -O mtu -t 20 -T 1 -A 1 -b -p /run/udhcpc.pid
    n=0
    while [ ! -s /run/eucad-ip ] && [ $n -lt 300 ]; do
        usleep 200000
        n=$((n + 1))
    done
    [ -s /run/eucad-ip ] && ip=$(cat /run/eucad-ip)
fi

id=
for word in $(cat /proc/cmdline); do
    case "$word" in
    eucad.instance_id=*) id="${word#eucad.instance_id=}" ;;
    esac
done

fetch_instance_id() {
    tries=0
    while [ $tries -lt 15 ]; do
        printf 'GET @METADATA_PATH@ HTTP/1.0\r\nHost: @METADATA_HOST@\r\n\r\n' \
            | nc -w 2 @METADATA_HOST@ 80 2>/dev/null | tr -d '\r' > /tmp/md
        if head -n 1 /tmp/md | grep -q ' 200 '; then
            sed '1,/^$/d' /tmp/md | head -n 1
            return 0
        fi
        tries=$((tries + 1))
        sleep 1
    done
    return 1
}

if [ -z "$id" ] && [ "$ip" != none ]; then
    id=$(fetch_instance_id)
fi
[ -n "$id" ] || id=unknown

root=none
if [ -b /dev/vda ] && mount -t ext2 -o ro /dev/vda /mnt/root 2>/dev/null; then
    cp /mnt/root/@ROOT_MARKER_FILE@ /www/root.txt 2>/dev/null && root=vda
fi

echo "$id" > /www/index.html
echo "$ip" > /www/ip.txt
cat /sys/class/net/eth0/mtu > /www/mtu.txt 2>/dev/null
httpd -p 80 -h /www

echo "@MARKER@ $id $ip" > /dev/ttyS0
echo "eucad test guest: root disk $root, uptime $(cut -d' ' -f1 /proc/uptime)s"

# PID 1 must never exit; waiting also reaps orphans (udhcpc, httpd children).
while true; do
    wait
    sleep 60
done
"""


def initScript():
    """The guest's /init with the module list and addresses filled in."""
    return (INIT_SCRIPT
            .replace("@MODULES@", " ".join(VIRTIO_MODULES))
            .replace("@METADATA_HOST@", METADATA_HOST)
            .replace("@METADATA_PATH@", METADATA_PATH)
            .replace("@ROOT_MARKER_FILE@", ROOT_MARKER_FILE)
            .replace("@MARKER@", MARKER))


def parseMarker(consoleText):
    """
    Find the guest's "up" line in console output.

    @return: (instanceId, ip) from the first marker line, or None.
    """
    for line in consoleText.splitlines():
        line = line.strip()
        if line.startswith(MARKER + " "):
            parts = line.split()
            if len(parts) >= 3:
                return parts[1], parts[2]
    return None
