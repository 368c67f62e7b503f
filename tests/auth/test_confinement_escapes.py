# Confinement escapes (issue 12, item 5): a user delegated her own domains
# over polkit — uid 65534 may manage and run the domains named alice-* and
# have them use the files of the storage pool alice-pool — tries every way
# to make a domain reach a host file she could not read herself. Each is
# refused with AccessDenied naming the path (at DefineDomain/CreateDomain or
# at Start), or provably reaches nothing: the qemu that started runs as
# another uid than root with no capabilities and holds no fd to the file
# (for a socket: the socket was never made).
#
# A real polkitd (auth_harness), real qemu (TCG), a real loop device.

import json
import os
import socket
import stat
import subprocess
import time
import xml.etree.ElementTree as ET

from auth_harness import (DOMAIN_IFACE, ERR_ACCESS_DENIED, MANAGER_IFACE, MANAGER_PATH, NOBODY, AuthTestCase,
                          main, minimal_domain_xml, opts)
from vmgmt_harness import new_uuid, proc_status

ERR_ALREADY_EXISTS = 'org.vmgmt.Error.AlreadyExists'
ERR_INVALID_XML = 'org.vmgmt.Error.InvalidXML'
POOL_IFACE = 'org.vmgmt.StoragePool'
START_TIMEOUT = 120

# alice (uid 65534, "nobody") manages and runs alice-* domains; of the
# storage pools only alice-pool is hers. Everything else falls to the
# policy's defaults (no for storage.use, a password for the rest).
DELEGATION_RULE = '''
polkit.addRule(function(action, subject) {
    if (subject.user != "nobody")
        return polkit.Result.NOT_HANDLED;
    var domain = action.lookup("domain") || "";
    if ((action.id == "org.vmgmt.domain.manage" || action.id == "org.vmgmt.domain.lifecycle") &&
        domain.indexOf("alice-") == 0)
        return polkit.Result.YES;
    if (action.id == "org.vmgmt.storage.use" && domain.indexOf("alice-") == 0 &&
        action.lookup("pool") == "alice-pool")
        return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
});
'''


def domain_xml(name, devices='', os_extra='', uuid=None, emulator=None):
    """minimal_domain_xml with extra <os> children and an optional <emulator>."""
    xml = minimal_domain_xml(name, uuid=uuid, extra_devices=(
        ('<emulator>%s</emulator>' % emulator if emulator else '') + devices))
    if os_extra:
        xml = xml.replace('hvm</type>', 'hvm</type>' + os_extra, 1)
    return xml


def disk(source, dev='vdb', kind='file', device='disk', driver='raw', readonly=True, bus='virtio'):
    attr = 'file' if kind == 'file' else 'dev'
    return ("<disk type='%s' device='%s'><driver name='qemu' type='%s'/><source %s='%s'/>"
            "<target dev='%s' bus='%s'/>%s</disk>"
            % (kind, device, driver, attr, source, dev, bus, '<readonly/>' if readonly else ''))


def same_file(a, b):
    if stat.S_ISBLK(a.st_mode) or stat.S_ISCHR(a.st_mode):
        return stat.S_IFMT(a.st_mode) == stat.S_IFMT(b.st_mode) and a.st_rdev == b.st_rdev
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class ConfinementEscapes(AuthTestCase):
    daemon_conf = {'polkit_timeout_sec': 20}

    def setUp(self):
        super().setUp()
        self.fx.write_rule('50-alice.rules', DELEGATION_RULE)
        self.alice = self.fx.unprivileged()
        self.loops = []
        self.addCleanup(self._detach_loops)
        self._make_files()
        # the rule is in force once alice may define one of hers
        probe = domain_xml('alice-probe')
        self.wait_until(lambda: self.alice.call(MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}',
                                                [probe, {}]).get('ok'),
                        timeout=60, what='the delegation rule is in force')

    # ---------------------------------------------------------------- files

    def _make_files(self):
        t = self.fx.tmp
        # root's secrets: a 0700 directory of 0600 files
        self.secret_dir = os.path.join(t, 'secret')
        os.mkdir(self.secret_dir, 0o700)
        self.secret = self._file(os.path.join(self.secret_dir, 'secret.img'), b'SECRET' * 1024, 0o600)
        self.secret_kernel = self._file(os.path.join(self.secret_dir, 'vmlinuz'), b'\0' * 65536, 0o600)
        self.secret_initrd = self._file(os.path.join(self.secret_dir, 'initrd.img'), b'\0' * 65536, 0o600)
        self.secret_bios = self._file(os.path.join(self.secret_dir, 'bios.bin'), b'\xf4' * 65536, 0o600)
        self.secret_base = self._file(os.path.join(self.secret_dir, 'base.raw'), b'BASE' * 262144, 0o600)
        # a world-readable file in no pool at all
        self.outside = self._file(os.path.join(t, 'outside.img'), b'OUTSIDE' * 1024, 0o644)
        # alice's pool: her directory, her files
        self.alice_dir = os.path.join(t, 'alice-pool')
        os.mkdir(self.alice_dir, 0o755)
        os.chown(self.alice_dir, NOBODY, NOBODY)
        self.alice_img = self._file(os.path.join(self.alice_dir, 'alice.img'), b'\0' * 1048576, 0o644, NOBODY)
        # root's image that happens to lie in alice's pool
        self.root_only = self._file(os.path.join(self.alice_dir, 'root-only.img'), b'ROOT' * 1024, 0o600)
        # another user's pool: world-readable, but not alice's to use
        self.other_dir = os.path.join(t, 'other-pool')
        os.mkdir(self.other_dir, 0o755)
        self.other_img = self._file(os.path.join(self.other_dir, 'other.img'), b'OTHER' * 1024, 0o644)
        for name, target in (('alice-pool', self.alice_dir), ('other-pool', self.other_dir)):
            xml = "<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>" % (name, target)
            p = str(self.client.manager.DefinePool(xml, opts()))
            self.client.obj(p).Start(opts(), dbus_interface=POOL_IFACE)

    def _file(self, path, data, mode, owner=0):
        with open(path, 'wb') as f:
            f.write(data)
        os.chmod(path, mode)
        os.chown(path, owner, owner)
        return path

    def _detach_loops(self):
        for dev in self.loops:
            subprocess.run(['losetup', '-d', dev], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def loop_device(self):
        backing = self._file(os.path.join(self.fx.tmp, 'loop-%d.img' % len(self.loops)), b'LOOP' * 262144, 0o600)
        r = subprocess.run(['losetup', '-f', '--show', backing], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise AssertionError('losetup could not make a loop device: %s' % r.stderr.decode(errors='replace'))
        dev = r.stdout.decode().strip()
        self.loops.append(dev)
        return dev

    # ---------------------------------------------------------------- calls and proofs

    def define(self, xml, caller=None):
        return (caller or self.alice).call(MANAGER_PATH, MANAGER_IFACE, 'DefineDomain', 'sa{sv}', [xml, {}])

    def create(self, xml, caller=None):
        return (caller or self.alice).call(MANAGER_PATH, MANAGER_IFACE, 'CreateDomain', 'sa{sv}', [xml, {}],
                                           timeout=START_TIMEOUT)

    def start(self, path, caller=None):
        return (caller or self.alice).call(path, DOMAIN_IFACE, 'Start', 'a{sv}', [{}], timeout=START_TIMEOUT)

    def domain_names(self):
        return [str(self.client.prop(p, 'Name')) for p in self.client.list_domains()]

    def assert_refused(self, answer, path, what):
        self.assertFalse(answer.get('ok'), '%s: not refused: %s' % (what, answer))
        self.assertEqual(answer.get('error'), ERR_ACCESS_DENIED, '%s: %s' % (what, answer))
        self.assertIn(path, answer.get('message', ''), '%s: the refusal does not name %s' % (what, path))

    def nobody_may_define(self, xml, answer):
        """True when alice's refusal (answer) is one root gets too, as InvalidXML: a definition vmgmt takes from
        nobody reaches nothing. (She is not told why: she may not define what names no domain of hers.)"""
        if answer.get('error') == ERR_ACCESS_DENIED and 'Access denied: not authorized' not in answer.get('message'):
            return False   # a refusal of the file itself: assert_refused() judges it
        try:
            p = self.client.manager.DefineDomain(xml, opts())
        except Exception as e:
            return e.get_dbus_name() == ERR_INVALID_XML
        self.client.domain(str(p)).Undefine(opts())
        return False

    def qemu_pid(self, path):
        uuid = str(self.client.prop(path, 'UUID'))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = [p for p in self.fx.qemu_pids() if uuid in ' '.join(_argv(p))]
            if pids:
                return pids[0]
            time.sleep(0.05)
        raise AssertionError('no qemu for %s' % path)

    def assert_confined(self, pid, what):
        st = {k: v.split() for k, v in proc_status(pid).items()}
        self.assertNotIn('0', st['Uid'], '%s: qemu %d runs as root (Uid %s)' % (what, pid, st['Uid']))
        self.assertNotIn('0', st['Gid'], '%s: qemu %d runs with gid 0 (Gid %s)' % (what, pid, st['Gid']))
        self.assertEqual(int(st['CapEff'][0], 16), 0, '%s: qemu %d has capabilities' % (what, pid))

    def assert_unreached(self, path, secret, what, held=True, created=None):
        """The domain at `path` started: its qemu must provably reach nothing
        of `secret` — not root, no capabilities, no fd to it (files held
        open for the domain's life), the socket `created` never made."""
        pid = self.qemu_pid(path)
        self.assert_confined(pid, what)
        if created is not None:
            self.assertFalse(os.path.lexists(created), '%s: %s was made' % (what, created))
            return
        self.assertTrue(held, '%s: started with %s, which qemu reads once at start-up: '
                              'only a refusal proves it read nothing' % (what, secret))
        target = os.stat(secret)
        fd_dir = '/proc/%d/fd' % pid
        for fd in os.listdir(fd_dir):
            try:
                st = os.stat(os.path.join(fd_dir, fd))
            except OSError:
                continue
            self.assertFalse(same_file(st, target), '%s: qemu %d holds fd %s to %s' % (what, pid, fd, secret))

    def escape(self, name, xml, secret, held=True, created=None, via_create=False):
        """Tries xml as alice: refused naming `secret`, or started and reaching nothing."""
        what = '%s (%s)' % (name, secret)
        if via_create:
            a = self.create(xml)
            if not a.get('ok'):
                self.assert_refused(a, secret, what + ' CreateDomain')
                return
            self.assert_unreached(a['result'][0], secret, what + ' CreateDomain', held, created)
            return
        a = self.define(xml)
        if not a.get('ok'):
            if self.nobody_may_define(xml, a):
                return
            self.assert_refused(a, secret, what + ' DefineDomain')
            return
        s = self.start(a['result'][0])
        if not s.get('ok'):
            self.assert_refused(s, secret, what + ' Start')
            return
        self.assert_unreached(a['result'][0], secret, what + ' Start', held, created)

    # ---------------------------------------------------------------- what alice may do

    def test_own_image_in_her_pool_runs(self):
        """The control: her own image in her pool (and /dev/urandom, allow-listed, for an rng) runs, so a policy
        that refuses everything cannot pass the escapes below."""
        xml = domain_xml('alice-ok', disk(self.alice_img, readonly=False) +
                         "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>")
        a = self.define(xml)
        self.assertTrue(a.get('ok'), a)
        s = self.start(a['result'][0])
        self.assertTrue(s.get('ok'), s)
        self.client.wait_state(a['result'][0], 'running', timeout=START_TIMEOUT)

    # ---------------------------------------------------------------- files she may not read

    def test_disk_etc_shadow(self):
        self.escape('alice-shadow', domain_xml('alice-shadow', disk('/etc/shadow')), '/etc/shadow')

    def test_disk_etc_shadow_create(self):
        self.escape('alice-shadow-c', domain_xml('alice-shadow-c', disk('/etc/shadow')), '/etc/shadow',
                    via_create=True)

    def test_cdrom(self):
        self.escape('alice-cdrom', domain_xml('alice-cdrom', disk(self.secret, dev='hdc', device='cdrom', bus='ide')),
                    self.secret)

    def test_kernel(self):
        self.escape('alice-kernel', domain_xml('alice-kernel', os_extra='<kernel>%s</kernel>' % self.secret_kernel),
                    self.secret_kernel, held=False)

    def test_initrd(self):
        os_extra = '<kernel>%s</kernel><initrd>%s</initrd>' % (self.alice_img, self.secret_initrd)
        self.escape('alice-initrd', domain_xml('alice-initrd', os_extra=os_extra), self.secret_initrd, held=False)

    def test_bios_loader(self):
        os_extra = "<loader readonly='yes' type='rom'>%s</loader>" % self.secret_bios
        self.escape('alice-bios', domain_xml('alice-bios', os_extra=os_extra), self.secret_bios, held=False)

    def test_nvram_store(self):
        # a variable store of the definition's own is opened as her (read-write)
        if not os.path.exists('/usr/share/OVMF/OVMF_CODE_4M.fd'):
            self.skipTest('ovmf is not installed')
        os_extra = ("<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
                    "<nvram>%s</nvram>" % self.secret_bios)
        self.escape('alice-nvram', domain_xml('alice-nvram', os_extra=os_extra), self.secret_bios)

    def test_nvram_template(self):
        # the template of her store in vmgmt's directory is copied by root: only one anyone may read
        if not os.path.exists('/usr/share/OVMF/OVMF_CODE_4M.fd'):
            self.skipTest('ovmf is not installed')
        os_extra = ("<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
                    "<nvram template='%s'/>" % self.secret_bios)
        self.escape('alice-nvtpl', domain_xml('alice-nvtpl', os_extra=os_extra), self.secret_bios, held=False)

    def test_rng_file_backend(self):
        rng = "<rng model='virtio'><backend model='random'>%s</backend></rng>" % self.secret
        self.escape('alice-rng', domain_xml('alice-rng', rng), self.secret)

    def test_rng_device_not_allow_listed(self):
        rng = "<rng model='virtio'><backend model='random'>/dev/mem</backend></rng>"
        self.escape('alice-rng-mem', domain_xml('alice-rng-mem', rng), '/dev/mem')

    def test_root_only_image_in_her_pool(self):
        self.escape('alice-rootimg', domain_xml('alice-rootimg', disk(self.root_only)), self.root_only)

    def test_image_of_a_pool_she_may_not_use(self):
        # world-readable: her own file rights would let her; the pool is not hers
        self.escape('alice-other', domain_xml('alice-other', disk(self.other_img)), self.other_img)

    def test_volume_of_a_pool_she_may_not_use(self):
        vol = ("<disk type='volume' device='disk'><driver name='qemu' type='raw'/>"
               "<source pool='other-pool' volume='other.img'/><target dev='vdb' bus='virtio'/><readonly/></disk>")
        self.escape('alice-othervol', domain_xml('alice-othervol', vol), 'other.img')

    def test_file_in_no_pool(self):
        self.escape('alice-outside', domain_xml('alice-outside', disk(self.outside)), self.outside)

    def test_qcow2_with_root_only_backing_file(self):
        overlay = os.path.join(self.alice_dir, 'overlay.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', self.secret_base, overlay],
                       check=True)
        os.chown(overlay, NOBODY, NOBODY)
        self.escape('alice-backing', domain_xml('alice-backing', disk(overlay, driver='qcow2', readonly=False)),
                    self.secret_base)

    def test_qcow2_with_backing_file_in_a_pool_she_may_not_use(self):
        overlay = os.path.join(self.alice_dir, 'overlay-other.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', self.other_img, overlay],
                       check=True)
        os.chown(overlay, NOBODY, NOBODY)
        self.escape('alice-backing-other', domain_xml('alice-backing-other',
                                                      disk(overlay, driver='qcow2', readonly=False)),
                    self.other_img)

    def test_host_block_device(self):
        dev = self.loop_device()
        self.escape('alice-block', domain_xml('alice-block', disk(dev, kind='block')), dev)

    def test_block_device_node_in_her_pool(self):
        # a device node inside a pool (a filesystem mounted without nodev): still a device
        dev = self.loop_device()
        node = os.path.join(self.alice_dir, 'disk-node')
        os.mknod(node, 0o666 | stat.S_IFBLK, os.stat(dev).st_rdev)
        self.escape('alice-node', domain_xml('alice-node', disk(node)), node)

    def test_symlink_in_her_pool_to_a_secret(self):
        link = os.path.join(self.alice_dir, 'link.img')
        os.symlink(self.secret, link)
        self.escape('alice-link', domain_xml('alice-link', disk(link)), link)

    def test_symlink_swapped_between_define_and_start(self):
        """Defined while the link led to her own image; swapped to root's secret before Start."""
        link = os.path.join(self.alice_dir, 'swap.img')
        os.symlink(self.alice_img, link)
        a = self.define(domain_xml('alice-swap', disk(link)))
        self.assertTrue(a.get('ok'), a)
        os.unlink(link)
        os.symlink(self.secret, link)
        s = self.start(a['result'][0])
        if not s.get('ok'):
            self.assert_refused(s, link, 'alice-swap Start')
            return
        self.assert_unreached(a['result'][0], self.secret, 'alice-swap Start')

    def test_symlink_swapped_to_a_readable_file_outside_pools(self):
        """She may read the file the link now leads to, but it lies in no pool of hers: the place the fd opened
        leads to is judged, not the name."""
        link = os.path.join(self.alice_dir, 'swap2.img')
        os.symlink(self.alice_img, link)
        a = self.define(domain_xml('alice-swap2', disk(link)))
        self.assertTrue(a.get('ok'), a)
        os.unlink(link)
        os.symlink(self.outside, link)
        s = self.start(a['result'][0])
        if not s.get('ok'):
            self.assert_refused(s, link, 'alice-swap2 Start')
            self.assertIn(self.outside, s.get('message', ''), s)
            return
        self.assert_unreached(a['result'][0], self.outside, 'alice-swap2 Start')

    # ---------------------------------------------------------------- sockets

    def test_channel_unix_socket_in_root_only_dir(self):
        sock = os.path.join(self.secret_dir, 'agent.sock')
        ch = ("<channel type='unix'><source mode='bind' path='%s'/>"
              "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>" % sock)
        self.escape('alice-channel', domain_xml('alice-channel', ch), sock, created=sock)

    def test_serial_and_console_unix_socket_in_root_only_dir(self):
        for kind in ('serial', 'console'):
            sock = os.path.join(self.secret_dir, '%s.sock' % kind)
            name = 'alice-%s-unix' % kind
            dev = ("<%s type='unix'><source mode='bind' path='%s'/><target port='0'/></%s>" % (kind, sock, kind))
            xml = domain_xml(name, dev)
            a = self.define(xml)
            if not a.get('ok') and self.nobody_may_define(xml, a):
                # a socket vmgmt does not offer for this device: nothing defined, nothing made
                self.assertNotIn(name, self.domain_names(), a)
                self.assertFalse(os.path.lexists(sock))
                continue
            if not a.get('ok'):
                self.assert_refused(a, sock, name + ' DefineDomain')
                continue
            s = self.start(a['result'][0])
            if not s.get('ok'):
                self.assert_refused(s, sock, name + ' Start')
                continue
            self.assert_unreached(a['result'][0], sock, name, created=sock)

    def test_vnc_socket_in_root_only_dir(self):
        sock = os.path.join(self.secret_dir, 'vnc.sock')
        gfx = "<graphics type='vnc'><listen type='socket' socket='%s'/></graphics>" % sock
        self.escape('alice-vnc', domain_xml('alice-vnc', gfx), sock, created=sock)

    # ---------------------------------------------------------------- emulator

    def own_emulator(self):
        caps = ET.fromstring(str(self.client.manager.GetCapabilities()))
        e = caps.find('.//emulator')
        self.assertIsNotNone(e, 'GetCapabilities names no emulator')
        return e.text.strip()

    def test_emulator_of_her_own(self):
        marker = os.path.join(self.fx.tmp, 'emulator-ran')
        script = os.path.join(self.alice_dir, 'qemu.sh')
        with open(script, 'w') as f:
            f.write('#!/bin/sh\ntouch %s\nexec %s "$@"\n' % (marker, self.own_emulator()))
        os.chmod(script, 0o755)
        os.chown(script, NOBODY, NOBODY)
        for verb, call in (('DefineDomain', self.define), ('CreateDomain', self.create)):
            a = call(domain_xml('alice-emu', emulator=script))
            self.assert_refused(a, script, verb)
        self.assertFalse(os.path.exists(marker), 'her emulator was run')
        self.assertNotIn('alice-emu', self.domain_names())

    def test_emulator_root_owned_but_not_found_by_vmgmtd(self):
        # trusted (root's, in root's directories): root may name it; she may not
        for verb, call in (('DefineDomain', self.define), ('CreateDomain', self.create)):
            self.assert_refused(call(domain_xml('alice-sh', emulator='/bin/sh')), '/bin/sh', verb)

    def test_emulator_vmgmtd_found_itself_is_allowed(self):
        a = self.define(domain_xml('alice-ownemu', emulator=self.own_emulator()))
        self.assertTrue(a.get('ok'), a)

    def test_start_of_root_definition_naming_another_emulator(self):
        """Root defines (root keeps today's behaviour) one of alice's domains with an emulator of root's
        choosing; alice may not start it."""
        emu_dir = os.path.join(self.fx.tmp, 'emu')
        os.mkdir(emu_dir, 0o755)
        wrapper = os.path.join(emu_dir, 'qemu-wrapper')
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\nexec %s "$@"\n' % self.own_emulator())
        os.chmod(wrapper, 0o755)
        path = str(self.client.manager.DefineDomain(domain_xml('alice-rootemu', emulator=wrapper), opts()))
        self.assert_refused(self.start(path), wrapper, 'Start')
        self.assertEqual(self.client.prop(path, 'State'), 'shutoff')

    # ---------------------------------------------------------------- UUIDs

    def test_uuid_of_another_domain(self):
        uuid = new_uuid()
        bob = str(self.client.manager.DefineDomain(domain_xml('bob-1', uuid=uuid), opts()))
        before = str(self.client.domain(bob).GetXML(opts()))
        mine = self.define(domain_xml('alice-mine'))
        self.assertTrue(mine.get('ok'), mine)
        for name in ('alice-u', 'alice-mine'):
            for verb, call in (('DefineDomain', self.define), ('CreateDomain', self.create)):
                a = call(domain_xml(name, uuid=uuid))
                self.assertEqual(a.get('error'), ERR_ALREADY_EXISTS, (name, verb, a))
                # a new name is told whose UUID it is; her own domain that the UUID is not its own
                self.assertIn(uuid if name == 'alice-u' else name, a.get('message', ''), a)
        # root is told the same
        for name in ('root-u', 'alice-mine'):
            for method in (self.client.manager.DefineDomain, self.client.manager.CreateDomain):
                try:
                    method(domain_xml(name, uuid=uuid), opts())
                    self.fail('%s with the UUID of bob-1 was taken' % name)
                except Exception as e:
                    self.assertEqual(e.get_dbus_name(), ERR_ALREADY_EXISTS, (name, e))
        self.assertEqual(str(self.client.domain(bob).GetXML(opts())), before)
        self.assertNotEqual(str(self.client.prop(mine['result'][0], 'UUID')), uuid)

    # ---------------------------------------------------------------- a qemu made to misbehave

    def test_qmp_open_etc_shadow(self):
        """A running qemu of hers, asked over its QMP socket (as root, with vmgmtd's own connection gone) to open
        /etc/shadow, cannot."""
        a = self.define(domain_xml('alice-qmp'))
        self.assertTrue(a.get('ok'), a)
        path = a['result'][0]
        s = self.start(path)
        self.assertTrue(s.get('ok'), s)
        self.client.wait_state(path, 'running', timeout=START_TIMEOUT)
        uuid = str(self.client.prop(path, 'UUID'))
        pid = self.qemu_pid(path)
        # vmgmt has no monitor passthrough: QEMU's monitor takes one client, vmgmtd's; it goes with vmgmtd
        self.fx.daemon.kill()
        qmp = Qmp(os.path.join(self.fx.daemon.run_dir, uuid, 'monitor.sock'))
        try:
            r = qmp.command('blockdev-add', {'driver': 'file', 'node-name': 'escape', 'filename': '/etc/shadow',
                                             'read-only': True})
            self.assertIn('error', r, 'qemu opened /etc/shadow: %s' % r)
            r = qmp.command('human-monitor-command',
                            {'command-line': 'drive_add 0 if=none,id=escape2,readonly=on,file=/etc/shadow'})
            self.assertIn('return', r, r)
            self.assertNotEqual(r['return'].strip(), 'OK', 'qemu opened /etc/shadow over HMP')
            self.assertRegex(r['return'], r'(?i)permission denied|no such file|could not open', r)
        finally:
            qmp.close()
        self.assert_confined(pid, 'alice-qmp')
        self.fx.daemon.start()


def _argv(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return [a.decode(errors='replace') for a in f.read().split(b'\0') if a]
    except OSError:
        return []


class Qmp:
    """A plain QMP client on a unix socket (greeting, qmp_capabilities, one command at a time)."""

    def __init__(self, path, timeout=60.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                # vmgmtd's connection is still being torn down
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b''
        self._read()   # greeting
        self.command('qmp_capabilities')

    def _read(self):
        while b'\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError('QMP closed')
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b'\n')
        return json.loads(line)

    def command(self, name, args=None):
        msg = {'execute': name}
        if args is not None:
            msg['arguments'] = args
        self.sock.sendall(json.dumps(msg).encode() + b'\n')
        while True:
            r = self._read()
            if 'event' not in r:
                return r

    def close(self):
        self.sock.close()


if __name__ == '__main__':
    main()
