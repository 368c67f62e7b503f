#!/usr/bin/python3
# -c/--connect URIs as libvirt's (issue 15 item 1), without ssh: qemu+unix
# with socket= reaches the bus at that socket (and nothing else: the system
# bus is unreachable here); transports vmgmt has no listener for (tcp, tls,
# libssh, libssh2, ext, a bare host = TLS) are refused naming ssh; unknown
# parameters are named; ssh URIs need a host and /system; the ssh options
# (keyfile, no_verify, command) reach ssh (command= a script that records its
# argv and fails).

import os
import stat

from vmgmt_harness import VmgmtTestCase, main, minimal_domain_xml, opts, run_vmgmtctl

NOWHERE = {'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=/nonexistent'}


class ConnectUri(VmgmtTestCase):
    shared_daemon = True

    def ctl(self, *args):
        return run_vmgmtctl(self.fx.bus, *args, env=NOWHERE)

    def test_unix_socket(self):
        self.client.manager.DefineDomain(minimal_domain_xml('viasock'), opts())
        for uri in ('qemu+unix:///system?socket=' + self.fx.bus.socket,
                    'vmgmt+unix:///system?socket=' + self.fx.bus.socket.replace('/', '%2F'),
                    'qemu:///system?socket=' + self.fx.bus.socket):
            r = self.ctl('-c', uri, 'list', '--all', '--name')
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, 'viasock\n', ''), uri)
        r = self.ctl('-c', 'qemu+unix:///system?socket=/nonexistent/sock', 'list')
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, 'error: Failed to connect to the bus at /nonexistent/sock: No such file or '
                                   'directory\n')

    def test_refused_uris(self):
        for uri in ('qemu+tcp://h/system', 'qemu+tls://h/system', 'qemu+libssh://h/system',
                    'qemu+libssh2://h/system', 'qemu+ext:///system?command=x', 'qemu://h/system'):
            r = self.ctl('-c', uri, 'list')
            self.assertEqual(r.returncode, 1, uri)
            self.assertIn("Unsupported connection URI '%s'" % uri, r.stderr)
            self.assertIn('ssh', r.stderr, uri)
        for uri, text in (('qemu+ssh:///system', 'needs a host'),
                          ('qemu+ssh://h/session', 'a remote user bus is not supported'),
                          ('qemu+ssh://h', 'the path is /system or /session'),
                          ('qemu+ssh://h/system?sslverify=0', "Unsupported parameter 'sslverify'"),
                          ('qemu+unix:///system?keyfile=/k', "Unsupported parameter 'keyfile'"),
                          ('qemu+nosuch://h/system', 'Unsupported transport'),
                          ('lxc:///system', 'Unsupported connection URI')):
            r = self.ctl('-c', uri, 'list')
            self.assertEqual(r.returncode, 1, uri)
            self.assertIn(text, r.stderr, uri)

    def test_ssh_options_reach_ssh(self):
        fake = os.path.join(self.fx.tmp, 'fake-ssh')
        argv_file = os.path.join(self.fx.tmp, 'argv')
        with open(fake, 'w') as f:
            f.write('#!/bin/sh\nfor a in "$@"; do printf "%%s\\n" "$a"; done > %s\nexit 255\n' % argv_file)
        os.chmod(fake, stat.S_IRWXU)
        r = self.ctl('-c', 'vmgmt+ssh://someone@far.example:2222/system?keyfile=/k%%20ey&no_verify=1&command=%s'
                     '&socket=/run/other/bus' % fake, 'list')
        self.assertEqual(r.returncode, 1)
        self.assertIn("The connection to host 'someone@far.example:2222' failed", r.stderr)
        with open(argv_file) as f:
            argv = f.read().splitlines()
        self.assertEqual(argv, ['-xT', '-p', '2222', '-i', '/k ey', '-o', 'StrictHostKeyChecking=no',
                                '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '--',
                                'someone@far.example',
                                "systemd-stdio-bridge '--bus-path=unix:path=/run/other/bus'"])


if __name__ == '__main__':
    main()
