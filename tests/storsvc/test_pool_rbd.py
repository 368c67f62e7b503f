# test_pool_rbd — rbd pools through the bus against a real one-node Ceph
# (tests/storsvc/netservers.py: ceph-mon + an OSD on memstore, cephx on, on
# 127.0.0.1): the client key comes from an org.vmgmt.Secret (usage 'ceph'),
# Start connects (librados, in a thread), images made with the rbd CLI are
# volumes with their sizes, CreateVolume / Delete make and remove real
# images, the volume's key and path are POOL/IMAGE and qemu reads the image
# as the client; a missing secret or a wrong key fails Start naming it, and
# nothing of the key reaches vmgmtd's log or its command lines.
import base64
import os
import shutil
import subprocess
import unittest

from storsvc_util import StorageTestCase, vol_xml, opts, POOL_IFACE, VOL_IFACE, dbus_error_name  # noqa: F401
from vmgmt_harness import cmdline, main, skip_missing, minimal_domain_xml, domain_path  # noqa: F401
from netservers import CephCluster
import dbus

MiB = 1 << 20
SECRET_USAGE = 'client.vmgmt secret'


def rbd_pool_xml(name, ceph, source=None, usage=SECRET_USAGE, uuid=None, username=None):
    secret = "<secret uuid='%s'/>" % uuid if uuid else "<secret usage='%s'/>" % usage
    return ("<pool type='rbd'><name>%s</name><source><name>%s</name><host name='%s' port='%d'/>"
            "<auth type='ceph' username='%s'>%s</auth></source></pool>\n"
            % (name, source or ceph.pool, ceph.host, ceph.port, username or ceph.client, secret))


def ceph_secret_xml(usage):
    return ("<secret ephemeral='no' private='yes'><usage type='ceph'><name>%s</name></usage></secret>" % usage)


class RbdPoolTests(StorageTestCase):
    ceph = None

    @classmethod
    def setUpClass(cls):
        if not os.path.exists('/usr/lib/x86_64-linux-gnu/qemu/block-rbd.so'):
            skip_missing('/usr/lib/x86_64-linux-gnu/qemu/block-rbd.so', 'qemu-block-extra')
        import tempfile
        cls.tmp = tempfile.mkdtemp(prefix='vmgmt-rbdpool-')
        cls.ceph = CephCluster(cls.tmp, pool='vmpool', client='vmgmt')   # skips naming what is missing
        try:
            cls.ceph.start()
        except BaseException:
            cls.ceph.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.ceph:
            cls.ceph.stop()
            assert cls.ceph.running() == []
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        super().setUp()
        features = [str(f) for f in self.prop('/org/vmgmt', 'org.vmgmt.Manager', 'Features')]
        if 'storage-rbd' not in features:
            self.fail('vmgmtd lists no storage-rbd feature although librbd is installed: %r' % features)
        for img in self.ceph.rbd_images():
            self.ceph.rbd('rm', '%s/%s' % (self.ceph.pool, img))

    def define_secret(self, usage=SECRET_USAGE, key=None):
        s = str(self.manager.DefineSecret(ceph_secret_xml(usage), opts()))
        raw = base64.b64decode(key or self.ceph.client_key)
        self.client.obj(s).SetValue(dbus.ByteArray(raw), opts(), dbus_interface='org.vmgmt.Secret')
        return s

    def vols(self, pool):
        return {str(self.prop(v, VOL_IFACE, 'Name')): str(v) for v in pool.ListVolumes(opts())}

    def test_rbd_pool_lifecycle(self):
        ceph = self.ceph
        self.define_secret()
        ceph.rbd('create', '--size', '64M', 'vmpool/pre1')
        p = self.manager.DefinePool(rbd_pool_xml('ceph', ceph), opts())
        pool = self.pool(p)
        self.assertEqual(self.prop(p, POOL_IFACE, 'Type'), 'rbd')
        self.assertEqual(self.prop(p, POOL_IFACE, 'Path'), '')
        xml = pool.GetXML(opts())
        self.assertIn('<name>vmpool</name>', xml)
        self.assertIn("<host name='%s' port='%d'/>" % (ceph.host, ceph.port), xml)
        self.assertIn("<auth type='ceph' username='vmgmt'>", xml)
        self.assertIn("<secret usage='%s'/>" % SECRET_USAGE, xml)
        self.assertNotIn('<target>', xml)
        self.assertBusError('org.vmgmt.Error.NotSupported', pool.Build, opts())

        pool.Start(opts())
        self.assertTrue(self.prop(p, POOL_IFACE, 'Active'))
        vols = self.vols(pool)
        self.assertEqual(sorted(vols), ['pre1'])
        v = self.props(vols['pre1'], VOL_IFACE)
        self.assertEqual((v['Key'], v['Path'], v['Capacity']), ('vmpool/pre1', 'vmpool/pre1', 64 * MiB))
        vxml = self.vol(vols['pre1']).GetXML(opts())
        self.assertIn("<volume type='network'>", vxml)
        self.assertIn('<path>vmpool/pre1</path>', vxml)

        # a <disk type='volume'> on it starts as the rbd network disk of the pool's source, as libvirt
        # (qemu's own client, the pool's monitor and key); a volume the pool has not is refused
        disk = ("<disk type='volume' device='disk'><source pool='ceph' volume='%s'/>"
                "<target dev='vda' bus='virtio'/></disk>")
        for name, vol in (('rbdvol', 'pre1'), ('rbdnone', 'nonesuch')):
            self.manager.DefineDomain(minimal_domain_xml(name, extra_devices=disk % vol), opts())
        err = self.assertBusError('org.vmgmt.Error.OperationFailed', self.client.obj(domain_path('rbdnone')).Start,
                                  opts(), dbus_interface='org.vmgmt.Domain')
        self.assertIn("storage volume 'nonesuch' not found in pool 'ceph'", err)
        dom = self.client.obj(domain_path('rbdvol'))
        dom.Start(opts(paused=True), dbus_interface='org.vmgmt.Domain')
        self.client.wait_state(domain_path('rbdvol'), 'paused')
        argv = ' '.join(' '.join(cmdline(p)) for p in self.fx.qemu_pids())
        self.assertIn('"driver":"rbd"', argv.replace(' ', ''))
        self.assertIn('"image":"pre1"', argv.replace(' ', ''))
        self.assertNotIn(self.ceph.client_key, argv)
        dom.Destroy(opts(), dbus_interface='org.vmgmt.Domain')

        # CreateVolume makes a real image of that size; qemu reads it as the client
        nv = pool.CreateVolume(vol_xml('made', 16, unit='MiB'), opts())
        self.assertEqual(ceph.rbd_image_size('made'), 16 * MiB)
        self.assertEqual(self.prop(nv, VOL_IFACE, 'Capacity'), 16 * MiB)
        r = subprocess.run(['qemu-img', 'info', ceph.qemu_spec('made')], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn('16 MiB', r.stdout)
        self.assertBusError('org.vmgmt.Error.AlreadyExists', pool.CreateVolume, vol_xml('made', 1, unit='MiB'), opts())
        self.assertBusError('org.vmgmt.Error.NotSupported', pool.CreateVolume,
                            vol_xml('q', 1, fmt='qcow2', unit='MiB'), opts())

        # images made or removed behind vmgmtd's back show at Refresh
        ceph.rbd('create', '--size', '8M', 'vmpool/outside')
        ceph.rbd('rm', 'vmpool/pre1')
        pool.Refresh(opts())
        self.assertEqual(sorted(self.vols(pool)), ['made', 'outside'])

        # Delete removes the image
        self.vol(nv).Delete(opts())
        self.assertIsNone(ceph.rbd_image_size('made'))
        self.assertEqual(sorted(self.vols(pool)), ['outside'])
        self.assertBusError('org.vmgmt.Error.NotSupported', self.vol(self.vols(pool)['outside']).Resize,
                            dbus.UInt64(32 * MiB), opts())

        # a restarted vmgmtd starts the active pool again, its secret read from the store
        self.fx.daemon.restart()
        self.wait_prop(p, POOL_IFACE, 'Active', True, timeout=180)
        pool = self.pool(p)
        self.assertEqual(sorted(self.vols(pool)), ['outside'])

        self.stop_when_started(p)
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
        self.assertEqual(list(pool.ListVolumes(opts())), [])
        self.assertEqual(ceph.rbd_images(), ['outside'])   # a stop leaves the images

    def test_secret_by_uuid_and_missing(self):
        ceph = self.ceph
        p = self.manager.DefinePool(rbd_pool_xml('nosecret', ceph, usage='no such usage'), opts())
        err = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p).Start, opts())
        self.assertIn("'no such usage'", err)
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
        self.pool(p).Undefine(opts())

        s = self.define_secret(usage='by uuid')
        uuid = str(self.prop(s, 'org.vmgmt.Secret', 'UUID'))
        p = self.manager.DefinePool(rbd_pool_xml('byuuid', ceph, uuid=uuid), opts())
        xml = self.pool(p).GetXML(opts())
        self.assertIn("<secret uuid='%s'/>" % uuid, xml)
        # the canonical XML defines the same pool again, unchanged
        self.assertEqual(str(self.manager.DefinePool(xml, opts())), str(p))
        self.assertEqual(self.pool(p).GetXML(opts()), xml)
        self.pool(p).Start(opts())
        self.assertTrue(self.prop(p, POOL_IFACE, 'Active'))
        self.pool(p).Stop(opts())

    def test_wrong_key_and_no_such_rados_pool(self):
        ceph = self.ceph
        other = subprocess.run(['ceph-authtool', '--gen-print-key'], stdout=subprocess.PIPE,
                               universal_newlines=True, check=True).stdout.strip()
        self.define_secret(usage='wrong', key=other)
        p = self.manager.DefinePool(rbd_pool_xml('wrongkey', ceph, usage='wrong'), opts())
        err = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p).Start, opts(), timeout=300)
        self.assertIn('cannot connect to the Ceph monitor', err)
        self.assertNotIn(other, err)
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))

        self.define_secret()
        p = self.manager.DefinePool(rbd_pool_xml('nopool', ceph, source='nothere'), opts())
        err = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p).Start, opts())
        self.assertIn("no RADOS pool 'nothere'", err)
        log = self.fx.daemon.log_text()
        self.assertNotIn(ceph.client_key, log)
        self.assertNotIn(other, log)

    def test_bad_xml(self):
        ceph = self.ceph
        cases = [
            ("<pool type='rbd'><name>b1</name><source><host name='%s'/></source></pool>" % ceph.host, 'requires <source><name>'),
            ("<pool type='rbd'><name>b2</name><source><name>vmpool</name></source></pool>", "requires <source><host"),
            ("<pool type='rbd'><name>b3</name><source><name>vmpool</name><host name='h'/>"
             "<auth type='chap' username='u'><secret usage='x'/></auth></source></pool>", "invalid <auth> type 'chap'"),
            ("<pool type='rbd'><name>b4</name><source><name>vmpool</name><host name='h'/>"
             "<auth type='ceph'><secret usage='x'/></auth></source></pool>", 'requires a username'),
            ("<pool type='rbd'><name>b5</name><source><name>vmpool</name><host name='h'/>"
             "<auth type='ceph' username='u'/></source></pool>", 'requires a <secret'),
            ("<pool type='rbd'><name>b6</name><source><name>vmpool</name><host name='h'/>"
             "<auth type='ceph' username='u'><secret usage='x' uuid='%s'/></auth></source></pool>"
             % '0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f', 'exactly one of'),
            ("<pool type='rbd'><name>b7</name><source><name>vmpool</name><host name='h'/></source>"
             "<target><path>/x</path></target></pool>", "<target> does not apply"),
            ("<pool type='rbd'><name>b8</name><source><name>vm/pool</name><host name='h'/></source></pool>",
             'invalid source <name>'),
        ]
        for xml, words in cases:
            err = self.assertBusError('org.vmgmt.Error.InvalidXML', self.manager.DefinePool, xml, opts())
            self.assertIn(words, err)
        self.assertEqual([str(x) for x in self.manager.ListPools(opts())
                          if str(x).split('/')[-1].startswith('b')], [])


if __name__ == '__main__':
    main()
