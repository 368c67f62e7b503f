# Manager.GetDomainCapabilities (issue 14.6): libvirt's <domainCapabilities>
# from the driver's QMP probe of this host's qemu. Every value is compared
# with qemu's own answers, asked here over QMP the same way (query-target,
# query-machines, query-cpu-definitions, qom-list-types); the defaults, an
# alias, and the errors of an unknown virttype, arch, machine and emulator.

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

from vmgmt_harness import (ERR_INVALID_ARGS, ERR_NOT_SUPPORTED, VmgmtTestCase, main, opts, run_vmgmtctl)
from vmgmt_testmain import skip_missing

QEMU = '/usr/bin/qemu-system-x86_64'


def qemu_answers(emulator=QEMU):
    """{id: return} of qemu's QMP answers (machine none, -S), asked on its stdin."""
    cmds = [{'execute': 'qmp_capabilities'},
            {'execute': 'query-target', 'id': 'target'},
            {'execute': 'query-machines', 'id': 'machines'},
            {'execute': 'query-cpu-definitions', 'id': 'cpus'},
            {'execute': 'qom-list-types', 'arguments': {'implements': 'device', 'abstract': False}, 'id': 'devices'},
            {'execute': 'quit'}]
    out = subprocess.run([emulator, '-S', '-no-user-config', '-nodefaults', '-display', 'none', '-machine', 'none',
                          '-accel', 'tcg', '-qmp', 'stdio'],
                         input=''.join(json.dumps(c) + '\n' for c in cmds).encode(), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, timeout=120, check=True).stdout.decode()
    answers = {}
    for line in out.splitlines():
        v = json.loads(line)
        if 'id' in v and 'return' in v:
            answers[v['id']] = v['return']
    return answers


def enum(root, path, name):
    e = root.find("%s/enum[@name='%s']" % (path, name))
    return [v.text for v in e.findall('value')] if e is not None else None


class DomainCapabilities(VmgmtTestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(QEMU, os.X_OK):
            skip_missing(QEMU, 'qemu-system-x86')
        cls.qemu = qemu_answers()
        super().setUpClass()

    def domcaps(self, emulator='', arch='', machine='', virttype=''):
        return ET.fromstring(str(self.manager.GetDomainCapabilities(emulator, arch, machine, virttype, opts())))

    def machine(self, name):
        for m in self.qemu['machines']:
            if (name is None and m.get('is-default')) or (name is not None and name in (m['name'], m.get('alias'))):
                return m
        raise AssertionError('qemu has no machine %s' % name)

    def test_defaults_as_qemu_answers(self):
        root = self.domcaps()
        self.assertEqual(root.tag, 'domainCapabilities')
        self.assertEqual(os.path.realpath(root.findtext('path')), os.path.realpath(QEMU))
        kvm = os.access('/dev/kvm', os.R_OK | os.W_OK)
        self.assertEqual(root.findtext('domain'), 'kvm' if kvm else 'qemu')
        self.assertEqual(root.findtext('arch'), self.qemu['target']['arch'])
        default = self.machine(None)
        self.assertEqual(root.findtext('machine'), default['name'])
        self.assertEqual(int(root.find('vcpu').get('max')), default['cpu-max'])
        self.assertEqual(root.find('iothreads').get('supported'), 'yes')   # <iothreads>, <iothreadids>
        self.assertEqual(enum(root, 'os/loader', 'type'), ['rom', 'pflash'])
        # cpu: the modes qemu-command.c can build, the models qemu lists (host and max are modes)
        modes = {m.get('name'): m for m in root.findall('cpu/mode')}
        self.assertEqual(modes['host-passthrough'].get('supported'), 'yes' if kvm else 'no')
        self.assertEqual(modes['maximum'].get('supported'), 'yes')
        models = {m.text: m.get('usable') for m in modes['custom'].findall('model')}
        want = {c['name']: 'yes' if not c['unavailable-features'] else 'no'
                for c in self.qemu['cpus'] if c['name'] not in ('host', 'max')}
        self.assertEqual(models, want)
        self.assertIn('qemu64', models)
        # devices: what a definition can have, where qemu has the device
        types = {t['name'] for t in self.qemu['devices']}
        self.assertEqual(enum(root, 'devices/disk', 'diskDevice'), ['disk', 'cdrom'])
        buses = enum(root, 'devices/disk', 'bus')
        self.assertEqual('virtio' in buses, 'virtio-blk-pci' in types)
        self.assertEqual(enum(root, 'devices/graphics', 'type'), ['vnc'])
        videos = enum(root, 'devices/video', 'modelType')
        for model, dev in (('vga', 'VGA'), ('cirrus', 'cirrus-vga'), ('qxl', 'qxl-vga'), ('bochs', 'bochs-display')):
            self.assertEqual(model in videos, dev in types, model)
        self.assertEqual(videos[-1], 'none')
        self.assertEqual(root.find('devices/rng').get('supported'), 'yes' if 'virtio-rng-pci' in types else 'no')
        self.assertEqual(enum(root, 'devices/rng', 'backendModel'), ['random', 'builtin'])
        for kind in ('hostdev', 'filesystem'):
            self.assertEqual(root.find('devices/' + kind).get('supported'), 'no', kind)
        # the TPM models this qemu has; the emulator backend where swtpm is installed
        tpm_models = [m for m, dev in (('tpm-tis', 'tpm-tis'), ('tpm-crb', 'tpm-crb')) if dev in types]
        self.assertEqual(enum(root, 'devices/tpm', 'model'), tpm_models)
        self.assertEqual(root.find('devices/tpm').get('supported'), 'yes' if tpm_models else 'no')
        swtpm = shutil.which('swtpm', path='/usr/sbin:/usr/bin:/sbin:/bin') and \
            shutil.which('swtpm_setup', path='/usr/sbin:/usr/bin:/sbin:/bin')
        self.assertEqual('emulator' in enum(root, 'devices/tpm', 'backendModel'), bool(swtpm and tpm_models))
        self.assertEqual(root.find("features/gic").get('supported'), 'no')

    def test_machine_alias_and_arguments(self):
        # an alias resolves to qemu's canonical machine with its own vCPU maximum; q35 has SATA, no IDE
        q35 = self.machine('q35')
        root = self.domcaps(QEMU, 'x86_64', 'q35', 'qemu')
        self.assertEqual(root.findtext('machine'), q35['name'])
        self.assertEqual(root.findtext('domain'), 'qemu')
        self.assertEqual(int(root.find('vcpu').get('max')), q35['cpu-max'])
        buses = enum(root, 'devices/disk', 'bus')
        self.assertIn('sata', buses)
        self.assertNotIn('ide', buses)
        pc = self.machine('pc')
        root = self.domcaps(machine=pc['name'])
        self.assertEqual(root.findtext('machine'), pc['name'])
        self.assertEqual(int(root.find('vcpu').get('max')), pc['cpu-max'])
        self.assertIn('ide', enum(root, 'devices/disk', 'bus'))
        # libvirt's i686 is qemu's i386 target, served by qemu-system-i386
        i386 = '/usr/bin/qemu-system-i386'
        if os.access(i386, os.X_OK):
            root = self.domcaps(arch='i686')
            self.assertEqual(root.findtext('arch'), 'i686')
            self.assertEqual(os.path.realpath(root.findtext('path')), os.path.realpath(i386))
            self.assertEqual(self.domcaps(emulator=i386).findtext('arch'), 'i686')
        # the CLI: domcapabilities with its options, --xpath and --wrap
        r = run_vmgmtctl(self.fx.bus, 'domcapabilities', '--virttype', 'qemu', '--emulatorbin', QEMU, '--arch',
                         'x86_64', '--machine', 'q35')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(ET.fromstring(r.stdout).findtext('machine'), q35['name'])
        r = run_vmgmtctl(self.fx.bus, 'domcapabilities', '--machine', 'q35', '--xpath', '/domainCapabilities/vcpu/@max')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), str(q35["cpu-max"]))
        r = run_vmgmtctl(self.fx.bus, 'domcapabilities', '--xpath', '//cpu/mode', '--wrap')
        self.assertEqual(r.returncode, 0, r.stderr)
        wrapped = ET.fromstring(r.stdout)
        self.assertEqual(wrapped.tag, 'nodes')
        self.assertEqual([m.get('name') for m in wrapped],
                         ['host-passthrough', 'maximum', 'host-model', 'custom'])

    def test_binary_asked_once(self):
        # the answers of a binary are kept while it is the same file: asking again (another machine,
        # type, arch name) runs nothing
        real = os.path.realpath(QEMU)

        def asked():
            return self.fx.daemon.log_text().count('Asking %s for domain capabilities' % real)

        self.assertEqual(self.domcaps(real, machine='q35').findtext('machine'), self.machine('q35')['name'])
        n = asked()
        self.assertGreaterEqual(n, 1)
        self.assertEqual(self.domcaps(real, machine='pc').findtext('machine'), self.machine('pc')['name'])
        self.assertEqual(self.domcaps(real, 'x86_64', '', 'qemu').findtext('domain'), 'qemu')
        self.assertEqual(self.domcaps().findtext('arch'), 'x86_64')
        self.assertEqual(asked(), n)

    def test_errors(self):
        m = self.manager.GetDomainCapabilities
        msg = self.assertDBusError(ERR_INVALID_ARGS, m, '', '', '', 'bogus', opts())
        self.assertIn('bogus', msg)
        self.assertDBusError(ERR_NOT_SUPPORTED, m, '', '', '', 'xen', opts())
        if not os.access('/dev/kvm', os.R_OK | os.W_OK):
            self.assertIn('kvm', self.assertDBusError(ERR_NOT_SUPPORTED, m, '', '', '', 'kvm', opts()))
        msg = self.assertDBusError(ERR_INVALID_ARGS, m, '', '', 'no-such-machine', '', opts())
        self.assertIn("'no-such-machine'", msg)
        self.assertDBusError(ERR_INVALID_ARGS, m, '', 'x86 64', '', '', opts())
        if not shutil.which('qemu-system-riscv64'):
            self.assertIn('riscv64', self.assertDBusError(ERR_NOT_SUPPORTED, m, '', 'riscv64', '', '', opts()))
        # the emulator: an arch it is not for, no such file, not qemu
        msg = self.assertDBusError(ERR_INVALID_ARGS, m, QEMU, 'i686', '', '', opts())
        self.assertIn("'x86_64'", msg)
        self.assertDBusError(ERR_INVALID_ARGS, m, '/nonexistent/qemu-system-x86_64', '', '', '', opts())
        self.assertIn('no qemu', self.assertDBusError(ERR_INVALID_ARGS, m, '/bin/true', '', '', '', opts()))
        self.assertDBusError(ERR_INVALID_ARGS, m, 'qemu-system-x86_64', '', '', '', opts())
        # the CLI says the same
        r = run_vmgmtctl(self.fx.bus, 'domcapabilities', '--machine', 'no-such-machine')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('no-such-machine', r.stderr)


if __name__ == '__main__':
    main()
