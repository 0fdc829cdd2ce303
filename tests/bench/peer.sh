#!/bin/sh
# The peer: how a user scripts the check today (getfattr + fsverity-utils + a join).
#   peer.sh MOUNTED_IMAGE OBJECTS_DIR
getfattr -R -d -m trusted.overlay -e hex "$1" >/tmp/peer-xattrs 2>/dev/null
(cd "$2" && find . -type f | xargs fsverity measure) >/tmp/peer-measure
awk -f /bin/peer-join.awk /tmp/peer-measure /tmp/peer-xattrs
