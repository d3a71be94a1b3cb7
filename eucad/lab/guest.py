"""The test guest's own programs: its ``/init`` and its DHCP client script.

They run inside the VM (busybox ash), not on the host; ``testimage`` packs
them into the initramfs.  Kept apart from the builder so that what the guest
does can be read in one place:

1. mount proc, sys, devtmpfs and devpts; insert the virtio modules in load
   order;
2. if there is an ``eth0``, run ``udhcpc`` with ``udhcpc.sh`` (address,
   default route, MTU from DHCP) and wait, bounded, for a lease;
3. ask the metadata service (169.254.169.254, with ``nc``: busybox ``wget``
   crashes in this guest) for its instance id, retrying for at most
   ``eucad.metadata_wait=`` seconds (default ``METADATA_WAIT_SECONDS``).
   The metadata service is the only source of who the guest is: when it
   cannot be reached in that time the guest is ``unknown`` and
   ``metadataSource`` in ``/status.json`` says ``none``;
4. mount the root disk read-only if there is one, to show which image it
   is, and serve the instance id at ``/`` on port 80 (busybox httpd);
5. read every meta-data key the service lists, and the user data, all over
   one kept-alive HTTP/1.1 connection (``md-walk.sh``); run user data that
   starts with ``#!`` (bounded by ``USER_DATA_TIMEOUT_SECONDS``), keeping
   its standard output;
6. install the public key for root and start dropbear on port 22;
7. write ``/status.json``: ``{"instanceId", "publicKey", "userDataOutput",
   "metadataSource", "metadata": {key: value}}``, then print
   ``EUCAD-GUEST-UP <instance-id> <ip>`` on the serial console, so that a
   test seeing the marker knows every page is already served.
"""

MARKER = "EUCAD-GUEST-UP"

# Order matters: each module needs the ones before it (insmod does not
# resolve dependencies, and there is no modules.dep in the initramfs).
VIRTIO_MODULES = (
    "virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
    "virtio_pci", "failover", "net_failover", "virtio_net", "virtio_blk",
)

METADATA_HOST = "169.254.169.254"
METADATA_WAIT_SECONDS = 5
#: Seconds each read of a metadata answer may wait (``MD_REQUEST_SCRIPT``).
MD_READ_SECONDS = 5
USER_DATA_TIMEOUT_SECONDS = 60

#: What ``metadataSource`` in /status.json says (else "none").
FROM_METADATA_SERVICE = "metadata-service"
#: The id a guest serves when no metadata service answered.
UNKNOWN_ID = "unknown"

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

# Run by ``nc -e`` with the connection as its stdin and stdout: it sends one
# request and keeps reading until the server closes.  Piping the request into
# a plain ``nc`` would half-close the connection at the end of the request,
# and an HTTP server may (twisted.web does) drop the request then.
#
# Only a 200 answer's body is written (to $MD_OUT), then "200" to
# $MD_STATUS when it is set (a user-data script may leave it out).
# Everything is read by the shell's own ``read``: the status line and the
# headers line by line (byte by byte from a socket), ending at
# the first line of at most one character (the blank "\r" line), then the
# body up to the end of the connection (``-d ''``); each read gives up after
# ``MD_READ_SECONDS``.  So a request costs no process but ``nc`` itself
# (which becomes this script): every process costs a guest under qemu
# without KVM milliseconds of CPU.  The guest asks this way for its instance
# id, retrying until the service answers, and a user-data script may use it;
# the rest of the tree comes over one connection (``MD_WALK_SCRIPT``).
MD_REQUEST_SCRIPT = r"""#!/bin/sh
printf 'GET %s HTTP/1.0\r\nHost: @METADATA_HOST@\r\n\r\n' "$MD_PATH"
IFS= read -t @MD_READ_SECONDS@ -r status || exit 1
case "$status" in
"HTTP/1."[01]" 200 "*) ;;
*) exit 1 ;;
esac
while :; do
    IFS= read -t @MD_READ_SECONDS@ -r line || exit 1
    case "$line" in
    ""|?) break ;;
    esac
done
IFS= read -t @MD_READ_SECONDS@ -r -d '' body
if printf '%s' "$body" > "$MD_OUT" && [ -n "$MD_STATUS" ]; then
    echo 200 > "$MD_STATUS"
fi
"""

# Run by ``nc -e`` once the guest serves its id: every meta-data key the
# service lists (into $MD_DIR, default /run/md) and the user data (into
# $MD_USER_DATA, default /run/user-data), over the one connection ``nc``
# opened, as HTTP/1.1 requests one after the other.  A connection (and so an
# ``nc`` and a shell) per key made about 30 processes, each costing a guest
# under qemu without KVM some CPU while the guests of a burst that do not
# serve yet still boot (how much depends on the host: from a quarter of a CPU
# second in all on one machine to too little to see on another).  Each answer
# is read to exactly its Content-Length; an answer without one, a read that
# times out or a closed connection ends the walk where it is (what was read
# stays).  The socket is kept on descriptors 3 and 4: the listing loops read
# their files on standard input.
MD_WALK_SCRIPT = r"""#!/bin/sh
exec 3<&0 4>&1 </dev/null >/dev/null
md=${MD_DIR:-/run/md}
user_data=${MD_USER_DATA:-/run/user-data}
cr='@CR@'

# get PATH FILE: the body of a 200 answer into FILE; 1 for another answer.
get() {
    local status line len body
    printf 'GET %s HTTP/1.1\r\nHost: @METADATA_HOST@\r\n\r\n' "$1" >&4
    IFS= read -t @MD_READ_SECONDS@ -r status <&3 || exit 1
    len=
    while :; do
        IFS= read -t @MD_READ_SECONDS@ -r line <&3 || exit 1
        line="${line%$cr}"
        case "$line" in
        "") break ;;
        [Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]:*)
            len="${line#*:}"
            len="${len#"${len%%[! ]*}"}"
            ;;
        esac
    done
    case "$len" in
    ""|*[!0-9]*) exit 1 ;;
    esac
    body=
    if [ "$len" -gt 0 ]; then
        IFS= read -t @MD_READ_SECONDS@ -r -n "$len" -d '' body <&3 || exit 1
    fi
    case "$status" in
    "HTTP/1."[01]" 200 "*) printf '%s' "$body" > "$2" ;;
    *) return 1 ;;
    esac
}

# walk PREFIX DEPTH: every key listed under meta-data/PREFIX into $md.
walk() {
    local prefix="$1" depth="$2" list="${MD_TMP:-/tmp}/md.list.$2" entry key
    [ "$depth" -lt 4 ] || return 0
    get "/latest/meta-data/$prefix" "$list" || return 0
    echo >> "$list"
    while read -r entry; do
        entry="${entry%$cr}"
        case "$entry" in
        ""|*..*|*\"*|*\\*|/*) continue ;;
        */) walk "$prefix$entry" $((depth + 1)) ;;
        *=*) walk "$prefix${entry%%=*}/" $((depth + 1)) ;;
        *)
            key="$prefix$entry"
            case "$key" in
            */*) [ -d "$md/${key%/*}" ] || mkdir -p "$md/${key%/*}" ;;
            esac
            get "/latest/meta-data/$key" "$md/$key" || rm -f "$md/$key"
            ;;
        esac
    done < "$list"
}

walk "" 0
get /latest/user-data "$user_data" || rm -f "$user_data"
"""

INIT_SCRIPT = r"""#!/bin/sh
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /run /tmp /www /mnt/root /dev/pts /run/md
mount -t devpts devpts /dev/pts
exec </dev/console >/dev/console 2>&1
# The shell's builtins where they do the job: each process started costs
# this guest (qemu without KVM) milliseconds of CPU.
say() {
    local up rest
    read -r up rest < /proc/uptime
    echo "eucad test guest: $* (uptime ${up}s)"
}
say "init starting"

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
    [ -s /run/eucad-ip ] && read -r ip < /run/eucad-ip
    say "address $ip"
fi

md_wait=@METADATA_WAIT@
read -r cmdline < /proc/cmdline
for word in $cmdline; do
    case "$word" in
    eucad.metadata_wait=*) md_wait="${word#eucad.metadata_wait=}" ;;
    esac
done
case "$md_wait" in
""|*[!0-9]*) md_wait=@METADATA_WAIT@ ;;
esac

# uptime_seconds: whole seconds since boot into $now.
uptime_seconds() {
    read -r now rest < /proc/uptime
    now=${now%%.*}
}

# md_get PATH FILE: the body of a 200 answer to GET PATH into FILE
# (/etc/md-request.sh); fails, leaving FILE as it was, on any other answer.
md_get() {
    : > /tmp/md.status
    MD_PATH="$1" MD_OUT="$2" MD_STATUS=/tmp/md.status \
        nc -w 2 @METADATA_HOST@ 80 -e /etc/md-request.sh 2>/dev/null
    read -r md_status < /tmp/md.status
    [ "$md_status" = 200 ]
}

source=none
id=
if [ "$ip" != none ]; then
    uptime_seconds
    deadline=$((now + md_wait))
    while :; do
        if md_get /latest/meta-data/instance-id /tmp/md.id; then
            source=@FROM_METADATA_SERVICE@
            read -r id < /tmp/md.id
            break
        fi
        uptime_seconds
        [ "$now" -lt "$deadline" ] || break
        usleep 300000
    done
fi
if [ "$source" != @FROM_METADATA_SERVICE@ ]; then
    say "no metadata service within ${md_wait}s: who this guest is stays unknown"
fi
[ -n "$id" ] || id=@UNKNOWN_ID@
printf '%s' "$id" > /run/instance-id

root=none
if [ -b /dev/vda ] && mount -t ext2 -o ro /dev/vda /mnt/root 2>/dev/null; then
    cp /mnt/root/@ROOT_MARKER_FILE@ /www/root.txt 2>/dev/null && root=vda
fi

# The id is served at once; status.json follows when all is read and run.
echo "$id" > /www/index.html
echo "$ip" > /www/ip.txt
if [ -e /sys/class/net/eth0/mtu ]; then
    read -r mtu < /sys/class/net/eth0/mtu
    echo "$mtu" > /www/mtu.txt
fi
httpd -p 80 -h /www
say "serving $id from $source"

if [ "$source" = @FROM_METADATA_SERVICE@ ]; then
    nc -w 2 @METADATA_HOST@ 80 -e /etc/md-walk.sh 2>/dev/null
    say "meta-data read"
    magic=
    [ -f /run/user-data ] && IFS= read -r -n 2 magic < /run/user-data
    if [ "$magic" = '#!' ]; then
        chmod 700 /run/user-data
        say "running user data"
        timeout @USER_DATA_TIMEOUT@ /run/user-data > /run/user-data.out 2>/run/user-data.err
        say "user data exited $?"
    fi
fi

if [ -s /run/md/public-keys/0/openssh-key ]; then
    mkdir -p /root/.ssh
    chmod 700 /root /root/.ssh
    cp /run/md/public-keys/0/openssh-key /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
fi
if [ -x /sbin/dropbear ]; then
    mkdir -p /etc/dropbear
    # -R: host keys made at first use, so no two guests share one.
    dropbear -F -E -R -s -p 22 > /run/dropbear.log 2>&1 &
fi

# write_status: /status.json, every file's text a JSON string (null when
# there is no file), in one awk: with RS a character no text keeps (control
# characters are dropped anyway), each file is one record, its newlines and
# whether it ends in one included.
write_status() {
    awk -v source="$source" '
        function esc(s) {
            gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\t/, "\\t", s)
            gsub(/\r/, "\\r", s); gsub(/[\001-\010\013\014\016-\037]/, "", s)
            gsub(/\n/, "\\n", s)
            return s
        }
        function text(path,    all, rec, got) {
            all = ""
            got = (getline rec < path)
            if (got < 0)
                return "null"
            while (got > 0) {
                all = all rec
                got = (getline rec < path)
            }
            close(path)
            return "\"" esc(all) "\""
        }
        BEGIN {
            RS = "\001"
            printf "{\"instanceId\": %s, \"publicKey\": %s, \"userDataOutput\": %s",
                text("/run/instance-id"), text("/run/md/public-keys/0/openssh-key"),
                text("/run/user-data.out")
            printf ", \"metadataSource\": \"%s\", \"metadata\": {", source
            for (i = 1; i < ARGC; i++)
                printf "%s\"%s\": %s", (i > 1 ? ", " : ""), ARGV[i], text("/run/md/" ARGV[i])
            printf "}}\n"
            exit
        }' $(cd /run/md && find . -type f | sed 's|^\./||' | sort)
}

write_status > /www/status.json.tmp && mv /www/status.json.tmp /www/status.json

echo "@MARKER@ $id $ip" > /dev/ttyS0
say "up: id from $source, root disk $root"

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
            .replace("@METADATA_WAIT@", str(METADATA_WAIT_SECONDS))
            .replace("@USER_DATA_TIMEOUT@", str(USER_DATA_TIMEOUT_SECONDS))
            .replace("@FROM_METADATA_SERVICE@", FROM_METADATA_SERVICE)
            .replace("@UNKNOWN_ID@", UNKNOWN_ID)
            .replace("@ROOT_MARKER_FILE@", ROOT_MARKER_FILE)
            .replace("@MARKER@", MARKER))


def metadataRequestScript():
    """The helper ``nc -e`` runs for each metadata request."""
    return (MD_REQUEST_SCRIPT.replace("@METADATA_HOST@", METADATA_HOST)
            .replace("@MD_READ_SECONDS@", str(MD_READ_SECONDS)))


def metadataWalkScript():
    """The helper ``nc -e`` runs once to read the whole meta-data tree and the user data."""
    return (MD_WALK_SCRIPT.replace("@METADATA_HOST@", METADATA_HOST)
            .replace("@MD_READ_SECONDS@", str(MD_READ_SECONDS))
            .replace("@CR@", "\r"))


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
