# test_pool_iscsi_direct — iscsi-direct pools through the bus against a real
# tgtd (tests/storsvc/netservers.py, on 127.0.0.1): Start logs in with
# libiscsi in user space (CHAP, the password from an org.vmgmt.Secret of
# usage 'iscsi'), the target's disk LUNs are volumes unit:0:0:N with their
# sizes and an iscsi:// path qemu opens (LUN 0, the controller, is not one),
# a LUN added on the target shows at Refresh, volumes cannot be created or
# deleted (NotSupported, as libvirt); a wrong password fails Start naming the
# login; the kernel-initiator type 'iscsi' is defined but refuses to start
# naming what it lacks; bad XML is InvalidXML naming what is wrong.
import os
import shutil
import subprocess
import tempfile

from storsvc_util import StorageTestCase, vol_xml, opts, POOL_IFACE, VOL_IFACE  # noqa: F401
from vmgmt_harness import cmdline, main, minimal_domain_xml, skip_missing, run_vmgmtctl  # noqa: F401
from netservers import TgtServer
import dbus

MiB = 1 << 20
INITIATOR = 'iqn.2026-12.org.vmgmt.test:initiator'
USER = 'vmgmtchap'
PASSWORD = 'chap-pass-0123'   # CHAP secrets are 12 to 16 bytes for many targets


def iscsi_pool_xml(name, tgt, iqn, ptype='iscsi-direct', usage='tgtchap', auth=True, initiator=True, target=None):
    src = "<host name='%s' port='%d'/><device path='%s'/>" % (tgt.host, tgt.port, iqn)
    if initiator:
        src += "<initiator><iqn name='%s'/></initiator>" % INITIATOR
    if auth:
        src += "<auth type='chap' username='%s'><secret usage='%s'/></auth>" % (USER, usage)
    tgt_xml = '<target><path>%s</path></target>' % target if target else ''
    return "<pool type='%s'><name>%s</name><source>%s</source>%s</pool>\n" % (ptype, name, src, tgt_xml)


def iscsi_secret_xml(usage):
    return "<secret ephemeral='no' private='yes'><usage type='iscsi'><target>%s</target></usage></secret>" % usage


class IscsiDirectPoolTests(StorageTestCase):
    tgt = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='vmgmt-iscsipool-')
        cls.tgt = TgtServer(cls.tmp)   # skips naming tgtd when tgt is not installed
        try:
            cls.tgt.start()
            cls.iqn = cls.tgt.add_target('pool', luns=[64 * MiB, 8 * MiB], user=USER, password=PASSWORD)
        except BaseException:
            cls.tgt.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.tgt:
            cls.tgt.stop()
            assert cls.tgt.running() == []
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def define_secret(self, usage='tgtchap', value=PASSWORD):
        s = str(self.manager.DefineSecret(iscsi_secret_xml(usage), opts()))
        self.client.obj(s).SetValue(dbus.ByteArray(value.encode()), opts(), dbus_interface='org.vmgmt.Secret')
        return s

    def vols(self, pool):
        return {str(self.prop(v, VOL_IFACE, 'Name')): str(v) for v in pool.ListVolumes(opts())}

    def test_iscsi_direct_lifecycle(self):
        features = [str(f) for f in self.prop('/org/vmgmt', 'org.vmgmt.Manager', 'Features')]
        self.assertIn('storage-iscsi-direct', features)
        tgt, iqn = self.tgt, self.iqn
        self.define_secret()
        p = self.manager.DefinePool(iscsi_pool_xml('tgt', tgt, iqn), opts())
        pool = self.pool(p)
        xml = pool.GetXML(opts())
        self.assertIn("<device path='%s'/>" % iqn, xml)
        self.assertIn("<iqn name='%s'/>" % INITIATOR, xml)
        self.assertIn("<auth type='chap' username='%s'>" % USER, xml)
        self.assertNotIn('<target>', xml)

        pool.Start(opts())
        self.assertTrue(self.prop(p, POOL_IFACE, 'Active'))
        vols = self.vols(pool)
        self.assertEqual(sorted(vols), ['unit:0:0:1', 'unit:0:0:2'])
        v1 = self.props(vols['unit:0:0:1'], VOL_IFACE)
        self.assertEqual(v1['Capacity'], 64 * MiB)
        self.assertEqual(self.prop(vols['unit:0:0:2'], VOL_IFACE, 'Capacity'), 8 * MiB)
        url = 'iscsi://%s:%d/%s/1' % (tgt.host, tgt.port, iqn)
        self.assertEqual(v1['Path'], url)
        self.assertNotIn(PASSWORD, self.vol(vols['unit:0:0:1']).GetXML(opts()))
        # the path is qemu's: with the credentials it opens the LUN
        r = subprocess.run(['qemu-img', 'info', tgt.url(iqn, 1)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn('64 MiB', r.stdout)
        self.assertEqual(self.prop(p, POOL_IFACE, 'Capacity'), 72 * MiB)

        self.assertBusError('org.vmgmt.Error.NotSupported', pool.CreateVolume, vol_xml('x', 1, unit='MiB'), opts())
        self.assertBusError('org.vmgmt.Error.NotSupported', self.vol(vols['unit:0:0:2']).Delete, opts())

        # a <disk type='volume'> of a LUN starts as the iscsi network disk of the pool's source (qemu's
        # libiscsi client, the pool's initiator and CHAP secret: no password on its command line)
        disk = ("<disk type='volume' device='disk'><source pool='tgt' volume='unit:0:0:1'/>"
                "<target dev='vda' bus='virtio'/></disk>")
        dpath = str(self.manager.DefineDomain(minimal_domain_xml('lunvol', extra_devices=disk), opts()))
        self.client.obj(dpath).Start(opts(paused=True), dbus_interface='org.vmgmt.Domain')
        self.client.wait_state(dpath, 'paused')
        argv = ''.join(' '.join(cmdline(q)) for q in self.fx.qemu_pids()).replace(' ', '')
        self.assertIn('"driver":"iscsi"', argv)
        self.assertIn('"target":"%s"' % iqn, argv)
        self.assertIn('"initiator-name":"%s"' % INITIATOR, argv)
        self.assertNotIn(PASSWORD, argv)
        self.client.obj(dpath).Destroy(opts(), dbus_interface='org.vmgmt.Domain')

        tgt.add_lun(iqn, 16 * MiB)
        pool.Refresh(opts())
        vols = self.vols(pool)
        self.assertEqual(sorted(vols), ['unit:0:0:1', 'unit:0:0:2', 'unit:0:0:3'])
        self.assertEqual(self.prop(vols['unit:0:0:3'], VOL_IFACE, 'Capacity'), 16 * MiB)

        pool.Stop(opts())
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
        self.assertEqual(list(pool.ListVolumes(opts())), [])
        self.assertNotIn(PASSWORD, self.fx.daemon.log_text())

    def test_wrong_password_and_missing_secret(self):
        tgt, iqn = self.tgt, self.iqn
        self.define_secret(usage='wrongchap', value='not-the-password')
        p = self.manager.DefinePool(iscsi_pool_xml('wrong', tgt, iqn, usage='wrongchap'), opts())
        err = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p).Start, opts())
        self.assertIn('cannot log in to iSCSI target %s' % iqn, err)
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))
        self.pool(p).Undefine(opts())

        p = self.manager.DefinePool(iscsi_pool_xml('nosecret', tgt, iqn, usage='nowhere'), opts())
        err = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p).Start, opts())
        self.assertIn("no iscsi secret 'nowhere'", err)
        self.pool(p).Undefine(opts())

        # without CHAP the target refuses the login
        p = self.manager.DefinePool(iscsi_pool_xml('nochap', tgt, iqn, auth=False), opts())
        err = self.assertBusError('org.vmgmt.Error.OperationFailed', self.pool(p).Start, opts())
        self.assertIn('cannot log in', err)
        self.assertNotIn('not-the-password', self.fx.daemon.log_text())

    def test_kernel_iscsi_refused(self):
        tgt, iqn = self.tgt, self.iqn
        target = os.path.join(self.pools_dir, 'by-path')
        p = self.manager.DefinePool(iscsi_pool_xml('kern', tgt, iqn, ptype='iscsi', auth=False, target=target),
                                    opts())
        xml = self.pool(p).GetXML(opts())
        self.assertIn("<pool type='iscsi'>", xml)
        self.assertIn('<path>%s</path>' % target, xml)
        # the canonical XML defines the same pool again, unchanged
        self.assertEqual(str(self.manager.DefinePool(xml, opts())), str(p))
        self.assertEqual(self.pool(p).GetXML(opts()), xml)
        err = self.assertBusError('org.vmgmt.Error.NotSupported', self.pool(p).Start, opts())
        self.assertIn("iscsi pools", err)
        self.assertIn("iscsi-direct", err)
        if not shutil.which('iscsiadm', path='/usr/sbin:/sbin:/usr/bin'):
            self.assertIn('iscsiadm (package open-iscsi) is not installed', err)
        elif not os.path.exists('/sys/module/iscsi_tcp'):
            self.assertIn("the kernel's iSCSI initiator (module iscsi_tcp) is not loaded", err)
        self.assertFalse(self.prop(p, POOL_IFACE, 'Active'))

    def ctl(self, *args, check=True):
        return run_vmgmtctl(self.fx.bus, *args, check=check)

    def test_cli(self):
        tgt, iqn = self.tgt, self.iqn
        self.define_secret(usage='clichap')
        host = '%s:%d' % (tgt.host, tgt.port)
        want = ("<pool type='iscsi-direct'>\n  <name>c</name>\n  <source>\n"
                "    <host name='%s' port='%d'/>\n    <device path='%s'/>\n"
                "    <initiator>\n      <iqn name='%s'/>\n    </initiator>\n"
                "    <auth type='chap' username='%s'>\n      <secret usage='clichap'/>\n    </auth>\n"
                "  </source>\n</pool>\n" % (tgt.host, tgt.port, iqn, INITIATOR, USER))
        for verb in ('pool-define-as', 'pool-create-as'):
            r = self.ctl(verb, 'c', 'iscsi-direct', '--print-xml', '--source-host', host, '--source-dev', iqn,
                         '--source-initiator', INITIATOR, '--auth-type', 'chap', '--auth-username', USER,
                         '--secret-usage', 'clichap')
            self.assertEqual(r.stdout, want)
            r = self.ctl(verb, 'c', 'iscsi-direct', '--print-xml', '--source-host', host, '--source-dev', iqn,
                         '--source-initiator', INITIATOR, '--auth-type', 'chap', '--auth-username', USER,
                         '--secret-uuid', '0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f')
            self.assertIn("<secret uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f'/>", r.stdout)
            r = self.ctl(verb, 'c', 'iscsi-direct', '--print-xml', '--auth-type', 'chap', check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn('--auth-type, --auth-username and --secret-usage or --secret-uuid go together', r.stderr)
        # a transient pool made and started from the options; pool-list and vol-list show it
        self.assertEqual(self.ctl('pool-create-as', 'clip', 'iscsi-direct', '--source-host', host, '--source-dev', iqn,
                                  '--source-initiator', INITIATOR, '--auth-type', 'chap', '--auth-username', USER,
                                  '--secret-usage', 'clichap').stdout, 'Pool clip created\n')
        self.assertRegex(self.ctl('pool-list').stdout, r'\n clip +active ')
        out = self.ctl('vol-list', 'clip').stdout
        self.assertIn('unit:0:0:1', out)
        self.assertIn('iscsi://%s/%s/1' % (host, iqn), out)
        self.ctl('pool-destroy', 'clip')

    def test_bad_xml(self):
        host = "<host name='127.0.0.1'/>"
        dev = "<device path='iqn.2026-12.x:y'/>"
        ini = "<initiator><iqn name='%s'/></initiator>" % INITIATOR
        cases = [
            ("<pool type='iscsi-direct'><name>c1</name><source>%s%s</source></pool>" % (host, dev), 'requires <source><initiator>'),
            ("<pool type='iscsi-direct'><name>c2</name><source>%s%s</source></pool>" % (host, ini), "requires <source><host name='…'/><device"),
            ("<pool type='iscsi-direct'><name>c3</name><source>%s%s</source></pool>" % (dev, ini), "requires <source><host name='…'/><device"),
            ("<pool type='iscsi-direct'><name>c4</name><source>%s%s%s<auth type='ceph' username='u'>"
             "<secret usage='s'/></auth></source></pool>" % (host, dev, ini), "invalid <auth> type 'ceph'"),
            ("<pool type='iscsi-direct'><name>c5</name><source>%s%s%s<auth type='chap' username='u'>"
             "<secret uuid='nope'/></auth></source></pool>" % (host, dev, ini), "invalid <secret> uuid 'nope'"),
            ("<pool type='iscsi-direct'><name>c6</name><source>%s%s<initiator/></source></pool>" % (host, dev),
             "<initiator> requires <iqn name="),
            ("<pool type='iscsi-direct'><name>c7</name><source>%s%s%s<name>x</name></source></pool>" % (host, dev, ini),
             "<name> in <source> does not apply to a pool of type 'iscsi-direct'"),
            ("<pool type='iscsi'><name>c8</name><source>%s%s</source></pool>" % (host, dev), 'missing <target>'),
        ]
        for xml, words in cases:
            err = self.assertBusError('org.vmgmt.Error.InvalidXML', self.manager.DefinePool, xml, opts())
            self.assertIn(words, err)
        names = [str(self.prop(x, POOL_IFACE, 'Name')) for x in self.manager.ListPools(opts())]
        self.assertEqual([n for n in names if n.startswith('c')], [])


if __name__ == '__main__':
    main()
