# openvswitch networks: <forward mode='bridge'/><bridge name='ovsbr0'/><virtualport type='openvswitch'/> and a
# domain on it. The test runs its own ovsdb-server and ovs-vswitchd in its private network + mount namespace
# (netsvc_util), with a tmpfs on /run/openvswitch there and a userspace (netdev) datapath, so no kernel module
# and nothing of the host's openvswitch (if any) is used.
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netsvc_util import *  # noqa: F401,F403,E402
from netsvc_util import NetTestCase, NET_IFACE, WAIT, opts, reap, main  # noqa: E402
from vmgmt_harness import minimal_domain_xml  # noqa: E402

OVS_RUN = '/run/openvswitch'
SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema'
# the first of openvswitch-switch's parts this machine lacks, or None
OVS_MISSING = next((p for p in ('ovs-vsctl', 'ovsdb-server', 'ovs-vswitchd', 'ovsdb-tool', SCHEMA)
                    if not (os.path.exists(p) if p.startswith('/') else shutil.which(p))), None)


def vsctl(*args, check=True):
    r = subprocess.run(['ovs-vsctl', '--timeout=%d' % WAIT] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError('ovs-vsctl %s: %s' % (' '.join(args), r.stderr))
    return r.stdout.strip()


def ovs_xml(name='ovsnet', bridge='ovsbr0'):
    return ("<network><name>%s</name><forward mode='bridge'/><bridge name='%s'/>"
            "<virtualport type='openvswitch'/></network>" % (name, bridge))


@unittest.skipIf(OVS_MISSING, 'openvswitch is not installed (package openvswitch-switch) (missing: %s)' % OVS_MISSING)
class Ovs(NetTestCase):
    def setUp(self):
        self.ovs_dir = tempfile.mkdtemp(prefix='vmgmt-ovs-')
        self.addCleanup(shutil.rmtree, self.ovs_dir, True)
        os.makedirs(OVS_RUN, exist_ok=True)
        subprocess.run(['mount', '-t', 'tmpfs', 'tmpfs', OVS_RUN], check=True)
        self.addCleanup(subprocess.run, ['umount', '-l', OVS_RUN])
        env = dict(os.environ, OVS_RUNDIR=OVS_RUN, OVS_DBDIR=self.ovs_dir, OVS_LOGDIR=self.ovs_dir,
                   OVS_SYSCONFDIR=self.ovs_dir)
        db = os.path.join(self.ovs_dir, 'conf.db')
        subprocess.run(['ovsdb-tool', 'create', db, SCHEMA], check=True, env=env)
        subprocess.run(['ovsdb-server', '--remote=punix:%s/db.sock' % OVS_RUN, '--pidfile', '--detach',
                        '--log-file', db], check=True, env=env, capture_output=True)
        self.addCleanup(self.kill_pidfile, 'ovsdb-server.pid')
        vsctl('--no-wait', 'init')
        subprocess.run(['ovs-vswitchd', '--pidfile', '--detach', '--log-file'], check=True, env=env,
                       capture_output=True)
        self.addCleanup(self.kill_pidfile, 'ovs-vswitchd.pid')
        vsctl('add-br', 'ovsbr0', '--', 'set', 'bridge', 'ovsbr0', 'datapath_type=netdev')
        super().setUp()

    def kill_pidfile(self, name):
        """Stops the ovs daemon of that pid file and waits until it is gone (this
        process is pid 1 of the namespace: the detached daemon is its child)."""
        try:
            with open(os.path.join(OVS_RUN, name)) as f:
                pid = int(f.read().strip())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + WAIT
        while os.path.exists('/proc/%d' % pid) and time.monotonic() < deadline:
            reap()
            time.sleep(0.05)
        if os.path.exists('/proc/%d' % pid):
            os.kill(pid, signal.SIGKILL)
        reap()

    def wait_ports(self, want, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            ports = vsctl('list-ports', 'ovsbr0').split()
            if ports == want:
                return
            self.assertLess(time.monotonic(), deadline, 'ports of ovsbr0: %s, expected %s' % (ports, want))
            time.sleep(0.05)

    def test_domain_port_on_ovs_bridge(self):
        n = str(self.manager.DefineNetwork(ovs_xml(), opts()))
        self.net(n).Start(opts())
        self.wait_net_event(n, 'started')
        self.assertEqual(self.client.prop(n, 'ForwardMode', NET_IFACE), 'bridge')
        mac = '52:54:00:cc:00:01'
        xml = minimal_domain_xml('ovsdom').replace(
            '<devices>', "<devices><interface type='network'><mac address='%s'/><source network='ovsnet'/>"
            "<model type='e1000'/></interface>" % mac, 1)
        path = self.define(xml)
        uuid = str(self.client.prop(path, 'UUID'))
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        live = str(self.dom(path).GetXML(opts()))
        tap = live.split("<target dev='", 1)[1].split("'", 1)[0]
        self.wait_ports([tap])
        ids = vsctl('get', 'Interface', tap, 'external-ids')
        self.assertIn('attached-mac="%s"' % mac, ids)
        self.assertIn('vm-id="%s"' % uuid, ids)
        self.assertIn('iface-status=active', ids)
        self.assertRegex(ids, r'iface-id="[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"')
        iface_id = ids.split('iface-id="', 1)[1].split('"', 1)[0]
        self.assertEqual(vsctl('get', 'Interface', tap, 'error'), '[]')
        r = subprocess.run(['ip', '-d', 'link', 'show', 'dev', tap], capture_output=True, text=True)
        self.assertNotIn(' master ', r.stdout)

        # a daemon restart keeps the port (and sets the same ids again)
        self.daemon.stop()
        self.daemon.start()
        self.wait_ports([tap])
        self.assertIn('iface-id="%s"' % iface_id, vsctl('get', 'Interface', tap, 'external-ids'))

        # the domain stops: the port goes
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.wait_ports([])
        deadline = time.monotonic() + WAIT
        while 'Done: delete openvswitch port %s' % tap not in self.daemon.log_text():
            self.assertLess(time.monotonic(), deadline, 'vmgmtd did not report the port deleted')
            time.sleep(0.05)

        # started again: a port again, with the same iface-id
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        tap = str(self.dom(path).GetXML(opts())).split("<target dev='", 1)[1].split("'", 1)[0]
        self.wait_ports([tap])
        self.assertIn('iface-id="%s"' % iface_id, vsctl('get', 'Interface', tap, 'external-ids'))
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.wait_ports([])

    def test_bridge_interface_on_ovs_bridge(self):
        """<interface type='bridge'><source bridge='ovsbr0'/>: the same port handling without a network."""
        mac = '52:54:00:cc:00:02'
        xml = minimal_domain_xml('ovsbr').replace(
            '<devices>', "<devices><interface type='bridge'><mac address='%s'/><source bridge='ovsbr0'/>"
            "<model type='e1000'/></interface>" % mac, 1)
        path = self.define(xml)
        self.dom(path).Start(opts())
        self.client.wait_state(path, 'running')
        tap = str(self.dom(path).GetXML(opts())).split("<target dev='", 1)[1].split("'", 1)[0]
        self.wait_ports([tap])
        self.assertIn('attached-mac="%s"' % mac, vsctl('get', 'Interface', tap, 'external-ids'))
        self.daemon.stop()
        self.daemon.start()
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.wait_ports([])

    def test_missing_bridge_refused(self):
        n = str(self.manager.DefineNetwork(ovs_xml('ovsnet2', 'ovsbr9'), opts()))
        msg = self.assertDBusError('org.vmgmt.Error.OperationFailed', self.net(n).Start, opts())
        self.assertIn("host bridge 'ovsbr9' does not exist", msg)
        self.assertFalse(self.client.prop(n, 'Active', NET_IFACE))


if __name__ == '__main__':
    main()
