# test_netdisk_nbd — <disk type='network'> through the bus with qemu's own nbd client, against a
# qemu-nbd of the test's (127.0.0.1 on a free port, or a unix socket vmgmtd connects as the
# caller and passes to qemu): the booted busybox guest reads a pattern written into the export's
# image through /dev/vda and its writes land in that image; qemu holds no fd of the image (it
# opens no host file for a network disk); the definition comes back as it went in (live and
# inactive); a network disk hot-plugged over the unix socket appears in the guest and goes again
# on detach. Bad definitions (unknown protocol, no host, no name, a secret of the wrong usage
# type, <auth> without a secret) are InvalidXML naming the problem and define nothing; a disk
# whose secret vmgmtd does not have fails Start with NoSuchSecret naming it, one whose secret has
# no value with InvalidState, the domain staying shut off. Domain capabilities list the network
# type and nbd plus the protocols whose qemu modules are installed.
import os
import time
import xml.etree.ElementTree as ET

import storsvc_util  # noqa: F401  (puts tests/integration on sys.path)
from nbd_server import NbdServer
from vmgmt_harness import (ERR_INVALID_STATE, ERR_INVALID_XML, ERR_NOT_SUPPORTED, GUEST_READY, VmgmtTestCase, cmdline,
                           guest_domain_xml, guest_image, main, opts, run_vmgmtctl)

BOOT_TIMEOUT = 240   # bounds a hang: a loaded TCG host boots the guest slowly
WAIT = 120
ERR_NO_SUCH_SECRET = 'org.vmgmt.Error.NoSuchSecret'
PATTERN = b'netdisk-nbd-pattern-5c1e'
MODULE_DIR = '/usr/lib/x86_64-linux-gnu/qemu'


def nbd_disk_xml(nbd, target='vda', tcp=True, name=True):
    if tcp:
        host = "<host name='%s' port='%d'/>" % (nbd.host, nbd.port)
    else:
        host = "<host transport='unix' socket='%s'/>" % nbd.socket
    return ("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            "<source protocol='nbd'%s>%s</source><target dev='%s' bus='virtio'/></disk>"
            % (" name='%s'" % nbd.export if name else '', host, target))


def with_disk(xml, disk):
    return xml.replace('<devices>', '<devices>' + disk, 1)


def qemu_files(pid):
    out = []
    d = '/proc/%d/fd' % pid
    for fd in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, fd)))
        except OSError:
            pass
    return out


def disk_source(xml, target):
    root = ET.fromstring(xml)
    for d in root.iter('disk'):
        t = d.find('target')
        if t is not None and t.get('dev') == target:
            return d
    return None


class NetdiskNbd(VmgmtTestCase):
    @classmethod
    def setUpClass(cls):
        guest_image()
        super().setUpClass()

    def nbd(self, tcp):
        n = NbdServer(self.fx.tmp)
        self.addCleanup(n.stop)
        n.write(0, PATTERN)
        return n.start(tcp=tcp)

    def boot(self, xml):
        path = self.define(xml)
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        con = self.fx.console(path)
        con.wait_for(GUEST_READY, BOOT_TIMEOUT)
        return path, con

    def guest_run(self, con, command, token):
        """Runs command in the guest; returns its output (between two markers the command line cannot show)."""
        con.send("echo %s_B''EGIN; %s; echo %s_E''ND" % (token, command, token))
        con.wait_for(token + '_BEGIN', WAIT)
        start = con.mark
        con.wait_for(token + '_END', WAIT)
        return con.buf[start:con.mark]

    def wait_guest_path(self, con, path, token, present=True):
        deadline = time.monotonic() + WAIT
        while True:
            out = self.guest_run(con, 'test -e %s && echo %s_Y''ES' % (path, token), token + 'Q')
            if ((token + '_YES').encode() in out) == present:
                return
            self.assertLess(time.monotonic(), deadline, '%s never %s in the guest' % (path, 'appeared' if present else 'went'))
            time.sleep(0.5)

    def qemu_pid(self):
        pids = [p for p in self.fx.qemu_pids() if 'qemu-nbd' not in ' '.join(cmdline(p))]   # not our server
        self.assertEqual(len(pids), 1)
        return pids[0]

    def test_tcp_guest_reads_and_writes(self):
        nbd = self.nbd(tcp=True)
        disk = nbd_disk_xml(nbd)
        path, con = self.boot(with_disk(guest_domain_xml('nbd1'), disk))
        # the definition as it went in, live and inactive
        for inactive in (False, True):
            d = disk_source(str(self.dom(path).GetXML(opts(inactive=inactive))), 'vda')
            self.assertEqual(d.get('type'), 'network')
            src = d.find('source')
            self.assertEqual((src.get('protocol'), src.get('name')), ('nbd', nbd.export))
            self.assertEqual([(h.get('name'), h.get('port')) for h in src.findall('host')], [(nbd.host, str(nbd.port))])
        # qemu talks to the server: it has no fd of the image
        self.assertNotIn(os.path.realpath(nbd.image), qemu_files(self.qemu_pid()))
        out = self.guest_run(con, 'dd if=/dev/vda bs=%d count=1 2>/dev/null' % len(PATTERN), 'RD')
        self.assertIn(PATTERN, out)
        # a guest write lands in the export's image
        con.send("echo guest-wrote-through-nbd | dd of=/dev/vda bs=512 seek=8 conv=fsync 2>/dev/null; echo W''D")
        con.wait_for('WD', WAIT)
        deadline = time.monotonic() + WAIT
        while nbd.read(4096, 23) != b'guest-wrote-through-nbd':
            self.assertLess(time.monotonic(), deadline, 'the guest write never reached the nbd image')
            time.sleep(0.2)

    def test_unix_socket_hotplug(self):
        nbd = self.nbd(tcp=False)
        path, con = self.boot(guest_domain_xml('nbd2'))
        self.rec.clear()
        self.dom(path).AttachDevice(nbd_disk_xml(nbd, tcp=False), opts(live=True))
        self.rec.wait_domain_event(path, 'device-added', timeout=WAIT)
        d = disk_source(str(self.dom(path).GetXML(opts())), 'vda')
        self.assertEqual(d.find('source/host').get('socket'), nbd.socket)
        self.wait_guest_path(con, '/sys/block/vda', 'VDA')
        out = self.guest_run(con, 'dd if=/dev/vda bs=%d count=1 2>/dev/null' % len(PATTERN), 'RD')
        self.assertIn(PATTERN, out)
        self.assertNotIn(os.path.realpath(nbd.image), qemu_files(self.qemu_pid()))
        self.rec.clear()
        self.dom(path).DetachDevice(nbd_disk_xml(nbd, tcp=False), opts(live=True))
        self.rec.wait_domain_event(path, 'device-removed', timeout=WAIT)
        self.assertIsNone(disk_source(str(self.dom(path).GetXML(opts())), 'vda'))
        self.wait_guest_path(con, '/sys/block/vda', 'VDA', present=False)

    def test_snapshots_and_block_jobs_not_supported(self):
        nbd = self.nbd(tcp=True)
        path = self.define(with_disk(guest_domain_xml('nbd3'), nbd_disk_xml(nbd)))
        # virsh domblklist names a network disk's source by its name (the export here)
        listed = run_vmgmtctl(self.fx.bus, 'domblklist', 'nbd3', '--details').stdout
        self.assertRegex(listed, r'network +disk +vda +%s\n' % nbd.export)
        # shut off: an internal snapshot of the network disk
        snap = "<domainsnapshot><name>s1</name></domainsnapshot>"
        msg = self.assertDBusError(ERR_NOT_SUPPORTED, self.dom(path).CreateSnapshot, snap, opts())
        self.assertIn("'vda'", msg)
        self.assertIn('network disk (nbd)', msg)
        self.dom(path).Start(opts(paused=True))
        self.client.wait_state(path, 'paused')
        for kw in ({}, {'disk_only': True}):
            msg = self.assertDBusError(ERR_NOT_SUPPORTED, self.dom(path).CreateSnapshot, snap, opts(**kw))
            self.assertIn('network disk (nbd)', msg)
        msg = self.assertDBusError(ERR_NOT_SUPPORTED, self.dom(path).BlockPull, 'vda', opts())
        self.assertIn('block jobs on network disks are not supported', msg)
        self.assertEqual([str(p) for p in self.dom(path).ListSnapshots(opts())], [])

    def test_bad_definitions(self):
        before = self.client.list_domains()
        host = "<host name='127.0.0.1' port='10809'/>"
        cases = [
            ("<source protocol='sheepdog' name='x'>%s</source>" % host, "invalid value 'sheepdog' for attribute 'protocol'"),
            ("<source protocol='nbd' name='x'/>", 'needs a <host name='),
            ("<source protocol='iscsi'>%s</source>" % host, "an iscsi source needs name='IQN/LUN'"),
            ("<source protocol='rbd' name='p/i'><host name='127.0.0.1'/><auth username='admin'>"
             "<secret type='iscsi' usage='x'/></auth></source>", "needs <secret type='ceph'>, not 'iscsi'"),
            ("<source protocol='rbd' name='p/i'><host name='127.0.0.1'/><auth username='admin'/></source>",
             '<auth> needs a <secret'),
        ]
        for source, expect in cases:
            xml = with_disk(guest_domain_xml('nbdbad'), "<disk type='network'>%s<target dev='vda'/></disk>" % source)
            msg = self.assertDBusError(ERR_INVALID_XML, self.manager.DefineDomain, xml, opts())
            self.assertIn(expect, msg)
            self.assertIn("disk 'vda'" if 'sheepdog' not in source else 'protocol', msg)
        self.assertEqual(self.client.list_domains(), before)

    def test_missing_secret(self):
        rbd = ("<disk type='network'><source protocol='rbd' name='rbd/img'><host name='127.0.0.1' port='1'/>"
               "<auth username='vmgmt'><secret type='ceph' usage='no-such-key'/></auth></source>"
               "<target dev='vda'/></disk>")
        path = self.define(with_disk(guest_domain_xml('nbdsec'), rbd))
        msg = self.assertDBusError(ERR_NO_SUCH_SECRET, self.dom(path).Start, opts())
        self.assertIn("no-such-key", msg)
        self.assertIn("disk 'vda'", msg)
        self.assertEqual(self.client.state(path)[0], 'shutoff')
        # a secret of that usage without a value
        self.manager.DefineSecret("<secret ephemeral='no' private='no'><usage type='ceph'><name>no-such-key</name>"
                                  "</usage></secret>", opts())
        msg = self.assertDBusError(ERR_INVALID_STATE, self.dom(path).Start, opts())
        self.assertIn('has no value', msg)
        self.assertEqual(self.client.state(path)[0], 'shutoff')
        self.assertEqual([p for p in self.fx.qemu_pids() if 'qemu-nbd' not in ' '.join(cmdline(p))], [])

    def test_domain_capabilities(self):
        root = ET.fromstring(str(self.manager.GetDomainCapabilities('', '', '', '', opts())))

        def enum(name):
            e = root.find("devices/disk/enum[@name='%s']" % name)
            return [v.text for v in e.findall('value')] if e is not None else None
        self.assertEqual(enum('type'), ['file', 'block', 'volume', 'network'])
        protocols = enum('protocol')
        self.assertEqual(protocols[0], 'nbd')
        for p in ('iscsi', 'nfs', 'rbd', 'gluster'):
            self.assertEqual(p in protocols, os.path.exists(os.path.join(MODULE_DIR, 'block-%s.so' % p)), p)


if __name__ == '__main__':
    main()
