# netsvc_util — helpers for the network service tests: every test program re-executes itself in a
# private network namespace (unshare -n, lo up) before the harness starts vmgmtd, so the `default`
# network, its bridge, dnsmasq and nft table never touch the host.
import os
import subprocess
import sys

if os.environ.get('VMGMT_NETSVC_NETNS') != '1':
    # VMGMT_PRIVATE_PIDNS: from in here other test runs' pids look dead, so the harness must
    # not clean up after "dead" runs (their temp dirs in the shared /tmp are alive)
    env = dict(os.environ, VMGMT_NETSVC_NETNS='1', VMGMT_DEFAULT_NETWORK='1', VMGMT_PRIVATE_PIDNS='1')
    # own network, mount and pid namespaces: when this process (pid 1 there) exits, every dnsmasq and
    # qemu it left dies with it; /proc and /sys show this namespace
    os.execvpe('unshare', ['unshare', '-n', '-m', '-p', '-f', '--mount-proc', '--', sys.executable] + sys.argv,
               env)
subprocess.run(['mount', '-t', 'sysfs', 'sysfs', '/sys'], check=True)
subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration'))
from vmgmt_harness import *  # noqa: F401,F403,E402
from vmgmt_harness import Fixture, VmgmtTestCase, opts, dbus_error_name, path_encode, unwrap  # noqa: F401,E402
import dbus  # noqa: E402

NET_IFACE = 'org.vmgmt.Network'
# the bound of every wait for a state or an event the test is sure to see: it only keeps a hang from
# lasting for ever (the machine may be loaded: no wait is a timing check)
WAIT = 120
PROPS = 'org.freedesktop.DBus.Properties'


def net_path(name):
    return '/org/vmgmt/network/' + path_encode(name)


def net_xml(name, bridge, subnet='10.77.0', forward='nat', dhcp=True, uuid=None):
    fwd = "<forward mode='%s'/>" % forward if forward else ''
    dh = ("<dhcp><range start='%s.10' end='%s.100'/></dhcp>" % (subnet, subnet)) if dhcp else ''
    u = '<uuid>%s</uuid>' % uuid if uuid else ''
    return ("<network><name>%s</name>%s%s<bridge name='%s'/>"
            "<ip address='%s.1' netmask='255.255.255.0'>%s</ip></network>\n"
            % (name, u, fwd, bridge, subnet, dh))


def links():
    """Interface names in this namespace."""
    with open('/proc/self/net/dev') as f:
        return sorted(line.split(':')[0].strip() for line in f.readlines()[2:])


def nft_tables():
    r = subprocess.run(['nft', 'list', 'tables'], capture_output=True, text=True)
    return r.stdout


def dnsmasq_pids():
    out = []
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                with open('/proc/%s/stat' % p) as f:
                    st = f.read()
                # comm in parentheses, then the state (Z: a zombie this pid 1 has not reaped yet)
                if st[st.index('(') + 1:st.rindex(')')] == 'dnsmasq' and st[st.rindex(')') + 2] != 'Z':
                    out.append(int(p))
            except OSError:
                pass
    return out


def clean_namespace():
    """What a test's networks left in this namespace (a killed vmgmtd leaves them running on purpose):
    dnsmasq, bridges, taps, the nft ruleset."""
    for pid in dnsmasq_pids():
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    for name in links():
        if name != 'lo':
            subprocess.run(['ip', 'link', 'del', name], capture_output=True)
    subprocess.run(['nft', 'flush', 'ruleset'], capture_output=True)
    reap()


def reap():
    """This process is pid 1 of its namespace: orphans (a killed vmgmtd's dnsmasq) become its children."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class NetTestCase(VmgmtTestCase):
    default_network = False     # VMGMT_DEFAULT_NETWORK for the daemon

    def setUp(self):
        os.environ['VMGMT_DEFAULT_NETWORK'] = '1' if self.default_network else '0'
        self.addCleanup(clean_namespace)
        super().setUp()
        rec = self.fx.rec
        self._m = self.client.conn.add_signal_receiver(
            lambda net, ev: rec.entries.append(('NetworkEvent', str(net), str(ev))),
            'NetworkEvent', 'org.vmgmt.Manager', None, '/org/vmgmt')
        self.addCleanup(self._m.remove)

    def net(self, path):
        return dbus.Interface(self.client.obj(path), NET_IFACE)

    def nprops(self, path):
        return self.client.props(path, NET_IFACE)

    def net_events(self, path=None):
        self.rec.pump()
        return [e[2] for e in self.rec.entries if e[0] == 'NetworkEvent' and (path is None or e[1] == path)]

    def wait_net_event(self, path, event, timeout=WAIT):
        return self.rec.wait_for(lambda en: [e for e in en if e[0] == 'NetworkEvent' and e[1] == path
                                             and e[2] == event], timeout, 'NetworkEvent %s %s' % (path, event))
