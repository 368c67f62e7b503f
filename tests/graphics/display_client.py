# display_client — what an unprivileged display client does, run by
# test_graphics_auth.py as another user (setpriv … /usr/bin/python3
# display_client.py ADDRESS PATH): OpenGraphics (then the RFB greeting) and
# Screenshot into a pipe of its own. Prints one JSON line with the outcomes.
import json
import os
import sys

import dbus


def outcome(fn):
    try:
        return {'ok': True, 'value': fn()}
    except dbus.DBusException as e:
        return {'ok': False, 'error': e.get_dbus_name(), 'message': e.get_dbus_message()}


def main():
    address, path = sys.argv[1], sys.argv[2]
    conn = dbus.bus.BusConnection(address)
    dom = dbus.Interface(conn.get_object('org.vmgmt', path, introspect=False), 'org.vmgmt.Domain')

    def open_graphics():
        fd = dom.OpenGraphics(dbus.Dictionary({}, signature='sv')).take()
        try:
            return os.read(fd, 12).decode()
        finally:
            os.close(fd)

    def screenshot():
        r, w = os.pipe2(os.O_CLOEXEC)
        ufd = dbus.types.UnixFd(w)
        os.close(w)
        try:
            dom.Screenshot(ufd, dbus.Dictionary({}, signature='sv'), timeout=60)
            os.close(ufd.take())
            data = b''
            while True:
                b = os.read(r, 65536)
                if not b:
                    return data[:8].hex() + ':%d' % len(data)
                data += b
        finally:
            os.close(r)

    print(json.dumps({'uid': os.getuid(), 'open': outcome(open_graphics), 'screenshot': outcome(screenshot)}))


if __name__ == '__main__':
    main()
