#!/usr/bin/python3
# OS templates on the bus (issue 16 item 3): Manager.GetOSInfo, ListOSInfo and
# DetectOSInfo from libosinfo's database. Every expected value is read by the
# test itself from the same database with gi's Libosinfo (no number is written
# here): debian12 (the newest Debian of an older osinfo-db that lacks it) by
# short id and by full id gives the same dict with osinfo's resources; an
# unknown id is NoSuchOS naming it; the list filters and sorts; an ISO built
# here with xorriso, whose volume id matches one of the OS's install media in
# the database, is identified (and one matching nothing is NoSuchOS naming its
# volume id); an unprivileged caller (uid 65534, a real polkitd) reads
# GetOSInfo, detects an ISO she may read, and is refused (AccessDenied) one
# she may not; calls issued at once at start-up, while the database loads in
# its thread, are all answered, and other calls meanwhile too; a vmgmtd with
# an empty database answers NotSupported saying so, and the rest works; the
# vmgmtctl verbs osinfo-list, osinfo and osinfo-detect.

import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile

import dbus

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'auth'))

import vmgmt_harness  # noqa: E402
from vmgmt_harness import (DEFAULT_TIMEOUT, ERR_INVALID_ARGS, ERR_NOT_SUPPORTED, ERR_OPERATION_FAILED, MANAGER_IFACE, VmgmtTestCase,  # noqa: E402
                           main, minimal_domain_xml, opts, run_vmgmtctl, skip_missing, unwrap)

ERR_NO_SUCH_OS = 'org.vmgmt.Error.NoSuchOS'
ERR_ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied'
HOST_ARCH = 'x86_64'
TYPELIB = '/usr/lib/x86_64-linux-gnu/girepository-1.0/Libosinfo-1.0.typelib'

_DB = []


def osinfo():
    """gi's Libosinfo module and the database it loads from libosinfo's default path (once)."""
    if not os.path.exists(TYPELIB):
        skip_missing(TYPELIB, 'gir1.2-libosinfo-1.0')
    import gi
    gi.require_version('Libosinfo', '1.0')
    from gi.repository import Libosinfo
    if not _DB:
        loader = Libosinfo.Loader()
        loader.process_default_path()
        _DB.append(loader.get_db())
    if not _DB[0].get_os_list().get_elements():
        skip_missing('/usr/share/osinfo/os', 'osinfo-db')
    return Libosinfo, _DB[0]


def test_os():
    """debian12; an osinfo-db older than Debian 12 (bookworm's own, 0.20221130)
    lacks it: then the newest released Debian it has."""
    _, db = osinfo()
    os_ = db.get_os('http://debian.org/debian/12')
    if os_:
        return os_
    released = [o for o in db.get_os_list().get_elements()
                if o.get_distro() == 'debian' and (o.get_version() or '').isdigit() and o.get_release_date_string()]
    return max(released, key=lambda o: o.get_release_date_string())


def resources(lst):
    """What GetOSInfo must say of a resources list: each value for x86_64, else for every arch."""
    out = {}
    for arch in (HOST_ARCH, 'all'):
        for r in lst.get_elements():
            if r.get_architecture() != arch:
                continue
            if 'ram' not in out and r.get_ram() > 0:
                out['ram'] = r.get_ram()
            if 'vcpus' not in out and r.get_n_cpus() > 0:
                out['vcpus'] = r.get_n_cpus()
            if 'storage' not in out and r.get_storage() > 0:
                out['storage'] = r.get_storage()
    return out


def summary(o):
    return {'id': o.get_id(), 'short_id': o.get_short_id() or '', 'name': o.get_name() or '',
            'vendor': o.get_vendor() or '', 'version': o.get_version() or '', 'family': o.get_family() or '',
            'distro': o.get_distro() or '', 'release_date': o.get_release_date_string() or '',
            'eol_date': o.get_eol_date_string() or ''}


def expected_info(o):
    """GetOSInfo's dict as the test reads the database itself."""
    devices = sorted({d.get_name() for d in o.get_all_devices(None).get_elements() if d.get_name()})
    bios, efi = True, False
    for f in o.get_complete_firmware_list(None).get_elements():
        if f.get_architecture() not in (HOST_ARCH, 'all'):
            continue
        if f.get_firmware_type() == 'bios':
            bios = f.is_supported()
        elif f.get_firmware_type() == 'efi':
            efi = f.is_supported()
    d = summary(o)
    d.update({
        'short_ids': list(o.get_short_id_list()),
        'minimum': resources(o.get_minimum_resources()),
        'recommended': resources(o.get_recommended_resources()),
        'maximum': resources(o.get_maximum_resources()),
        'devices': devices,
        'virtio': any(re.fullmatch(r'virtio.*-block', n) for n in devices) and
        any(re.fullmatch(r'virtio.*-net', n) for n in devices),
        'q35': 'qemu-x86-q35' in devices,
        'firmware': (['bios'] if bios else []) + (['efi'] if efi else []),
        'install_media': [{'url': m.get_url() or '', 'arch': m.get_architecture() or '',
                           'volume_id': m.get_volume_id() or '', 'installer': m.get_installer(),
                           'live': m.get_live()}
                          for m in sorted(o.get_media_list().get_elements(),
                                          key=lambda m: (m.get_architecture() or '', m.get_url() or '',
                                                         m.get_volume_id() or ''))],
        'install_trees': [{'url': t.get_url() or '', 'arch': t.get_architecture() or '',
                           'kernel': t.get_kernel_path() or '', 'initrd': t.get_initrd_path() or ''}
                          for t in sorted(o.get_tree_list().get_elements(),
                                          key=lambda t: (t.get_architecture() or '', t.get_url() or ''))],
    })
    return d


def example_of(pattern):
    """A string the (simple) regex of an osinfo-db media field matches, or None."""
    s = pattern.lstrip('^').rstrip('$')
    s = re.sub(r'\\d[+*]?|\[0-9\][+*]?', '5', s)
    s = re.sub(r'\.\*|\.\+', '', s)
    s = re.sub(r'\\(.)', r'\1', s)
    if re.search(r'[][()|?*+{}]', s) or not re.search(pattern, s) or len(s) > 32:
        return None
    return s


def xorriso():
    exe = shutil.which('xorriso')
    if not exe:
        skip_missing('xorriso', 'xorriso')
    return exe


def make_iso(path, volume_id, tmp):
    """An ISO 9660 image with that volume id (and a file in it), built with xorriso."""
    tree = tempfile.mkdtemp(dir=tmp)
    with open(os.path.join(tree, 'README'), 'w') as f:
        f.write('vmgmt osinfo test medium\n')
    subprocess.run([xorriso(), '-as', 'mkisofs', '-quiet', '-V', volume_id, '-o', path, tree],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=DEFAULT_TIMEOUT)
    shutil.rmtree(tree)
    return path


def installer_volume_id(o):
    """A volume id one of o's x86_64 install media in the database matches (its pattern's example; a netinst first)."""
    media = sorted(o.get_media_list().get_elements(), key=lambda m: ('netinst' not in (m.get_url() or ''),
                                                                    m.get_url() or ''))
    for m in media:
        if m.get_architecture() == HOST_ARCH and m.get_volume_id() and m.get_installer() \
                and not (m.get_system_id() or m.get_publisher_id() or m.get_application_id()):
            v = example_of(m.get_volume_id())
            if v:
                return v
    raise AssertionError('no x86_64 install medium of %s has a volume id pattern this test can match' % o.get_id())


def gi_identify(iso):
    """(os id or None, media dict) as libosinfo itself identifies the file."""
    Libosinfo, db = osinfo()
    media = Libosinfo.Media.create_from_location_with_flags(iso, None, 0)
    if not db.identify_media(media):
        return None, media.get_volume_id()
    return media.get_os().get_id(), {'volume_id': media.get_volume_id() or '', 'arch': media.get_architecture() or '',
                                     'installer': media.get_installer(), 'live': media.get_live()}


class OsInfo(VmgmtTestCase):
    shared_daemon = True

    def get(self, ident):
        return unwrap(self.manager.GetOSInfo(ident, timeout=DEFAULT_TIMEOUT))

    def list(self, **filt):
        return [unwrap(e) for e in self.manager.ListOSInfo(opts(**filt), timeout=DEFAULT_TIMEOUT)]

    def detect(self, path, **o):
        return unwrap(self.manager.DetectOSInfo(path, opts(**o), timeout=DEFAULT_TIMEOUT))

    def test_by_short_id_and_full_id(self):
        o = test_os()
        by_short = self.get(o.get_short_id())
        by_id = self.get(o.get_id())
        self.assertEqual(by_short, by_id)
        want = expected_info(o)
        self.assertEqual(sorted(by_short.keys()), sorted(want.keys()), 'the exact keys')
        self.assertEqual(by_short, want)
        # what vmgmtctl install takes as its defaults
        rec = resources(o.get_recommended_resources())
        self.assertTrue(rec, 'osinfo recommends nothing for %s' % o.get_id())
        self.assertEqual(by_short['recommended'], rec)
        # every short id names it
        for sid in o.get_short_id_list():
            self.assertEqual(self.get(sid)['id'], o.get_id())

    def test_unknown_id(self):
        msg = self.assertDBusError(ERR_NO_SUCH_OS, self.manager.GetOSInfo, 'vmgmt-no-such-os-42')
        self.assertIn('vmgmt-no-such-os-42', msg)
        msg = self.assertDBusError(ERR_NO_SUCH_OS, self.manager.GetOSInfo, 'http://example.org/none/1')
        self.assertIn('http://example.org/none/1', msg)
        self.assertDBusError(ERR_INVALID_ARGS, self.manager.GetOSInfo, '')

    def test_list_filters_and_order(self):
        _, db = osinfo()
        every = db.get_os_list().get_elements()
        debian = self.list(distro='debian')
        self.assertEqual(sorted(e['id'] for e in debian), sorted(o.get_id() for o in every if o.get_distro() == 'debian'))
        self.assertEqual(debian[0], self.list(distro='debian')[0])
        by_id = {o.get_id(): o for o in every}
        for e in debian:
            self.assertEqual(e, summary(by_id[e['id']]))
        dates = [e['release_date'] for e in debian]
        dated = [d for d in dates if d]
        self.assertEqual(dated, sorted(dated, reverse=True), 'newest first')
        self.assertEqual(dates, dated + [''] * (len(dates) - len(dated)), 'undated last')
        # family and name_contains (case-insensitive), combined
        linux = {e['id'] for e in self.list(family='linux')}
        self.assertEqual(linux, {o.get_id() for o in every if o.get_family() == 'linux'})
        self.assertTrue({e['id'] for e in debian} <= linux)
        named = {e['id'] for e in self.list(family='linux', name_contains='DEBIAN')}
        self.assertEqual(named, {o.get_id() for o in every if o.get_family() == 'linux'
                                 and 'debian' in (o.get_name() or '').lower()})
        vendor = test_os().get_vendor()
        self.assertEqual({e['id'] for e in self.list(vendor=vendor)},
                         {o.get_id() for o in every if o.get_vendor() == vendor})
        # include_eol=false: only what has not reached its end of life
        today = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d')
        live = {e['id'] for e in self.list(distro='debian', include_eol=False)}
        self.assertEqual(live, {o.get_id() for o in every if o.get_distro() == 'debian'
                                and not (o.get_eol_date_string() and o.get_eol_date_string() <= today)})
        self.assertLess(len(live), len(debian), 'some Debian has reached its end of life')
        self.assertEqual(len(self.list()), len(every))
        self.assertEqual(self.list(distro='vmgmt-none'), [])
        self.assertDBusError(ERR_INVALID_ARGS, self.manager.ListOSInfo, opts(color='red'))
        self.assertDBusError(ERR_INVALID_ARGS, self.manager.ListOSInfo, {'distro': dbus.UInt32(1)})

    def test_detect_iso(self):
        o = test_os()
        volume_id = installer_volume_id(o)
        iso = make_iso(os.path.join(self.fx.tmp, 'installer.iso'), volume_id, self.fx.tmp)
        want_os, want_media = gi_identify(iso)
        self.assertEqual(want_os, o.get_id(), 'libosinfo itself identifies %r as %s' % (volume_id, want_os))
        got = self.detect(iso)
        media = got.pop('media')
        self.assertEqual(got, self.get(want_os))
        self.assertEqual(media, want_media)
        self.assertTrue(media['installer'])
        self.assertEqual(media['arch'], HOST_ARCH)

    def test_detect_refusals(self):
        other = make_iso(os.path.join(self.fx.tmp, 'other.iso'), 'VMGMT NOTHING 42', self.fx.tmp)
        self.assertIsNone(gi_identify(other)[0])
        msg = self.assertDBusError(ERR_NO_SUCH_OS, self.manager.DetectOSInfo, other, opts())
        self.assertIn('VMGMT NOTHING 42', msg)
        junk = os.path.join(self.fx.tmp, 'junk.iso')
        with open(junk, 'wb') as f:
            f.write(b'\0' * 65536)
        msg = self.assertDBusError(ERR_INVALID_ARGS, self.manager.DetectOSInfo, junk, opts())
        self.assertIn(junk, msg)
        self.assertDBusError(ERR_INVALID_ARGS, self.manager.DetectOSInfo, 'relative.iso', opts())
        self.assertDBusError(ERR_INVALID_ARGS, self.manager.DetectOSInfo, junk, opts(bogus=True))
        missing = os.path.join(self.fx.tmp, 'missing.iso')
        msg = self.assertDBusError(ERR_OPERATION_FAILED, self.manager.DetectOSInfo, missing, opts())
        self.assertIn(missing, msg)

    def test_cli(self):
        o = test_os()
        r = run_vmgmtctl(self.fx.bus, 'osinfo-list', '--distro', 'debian', check=True)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].split()[:2] == ['Short', 'ID'] or 'Short ID' in lines[0], r.stdout)
        self.assertTrue(any(line.split()[:1] == [o.get_short_id()] for line in lines), r.stdout)
        # the filters are ListOSInfo's: the same short ids in the same order
        want = [e['short_id'] or e['id'] for e in self.list(family='linux', vendor=o.get_vendor(), name_contains='deb',
                                                            include_eol=False)]
        r = run_vmgmtctl(self.fx.bus, 'osinfo-list', '--family', 'linux', '--vendor', o.get_vendor(), '--name', 'deb',
                         '--no-eol', check=True)
        self.assertTrue(want)
        self.assertEqual([line.split()[0] for line in r.stdout.splitlines()[2:] if line.strip()], want, r.stdout)
        r = run_vmgmtctl(self.fx.bus, 'osinfo', o.get_short_id(), check=True)
        self.assertIn(o.get_id(), r.stdout)
        self.assertRegex(r.stdout, r'(?m)^Name:\s+%s$' % re.escape(o.get_name()))
        ram = resources(o.get_recommended_resources()).get('ram')
        if ram:
            self.assertRegex(r.stdout, r'(?m)^\s+ram:\s+%d MiB$' % (ram // (1024 * 1024)))
        r = run_vmgmtctl(self.fx.bus, 'osinfo', 'vmgmt-no-such-os-42')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('vmgmt-no-such-os-42', r.stderr)
        iso = make_iso(os.path.join(self.fx.tmp, 'cli.iso'), installer_volume_id(o), self.fx.tmp)
        r = run_vmgmtctl(self.fx.bus, 'osinfo-detect', iso, check=True)
        self.assertRegex(r.stdout, r'(?m)^Short ID:\s+%s$' % re.escape(o.get_short_id()))
        r = run_vmgmtctl(self.fx.bus, '--json=short', 'osinfo', o.get_short_id(), check=True)
        import json
        self.assertEqual(json.loads(r.stdout), self.get(o.get_short_id()))


class LoadingDatabase(VmgmtTestCase):
    """Calls sent at once to a vmgmtd that has not loaded its database yet."""

    def test_calls_while_loading(self):
        o = test_os()
        iso = make_iso(os.path.join(self.fx.tmp, 'first.iso'), installer_volume_id(o), self.fx.tmp)
        mgr = self.manager
        answers = {}
        errors = {}
        loop = vmgmt_harness.GLib.MainLoop()
        calls = {
            'short': ('GetOSInfo', (o.get_short_id(),)),
            'full': ('GetOSInfo', (o.get_id(),)),
            'unknown': ('GetOSInfo', ('vmgmt-no-such-os-42',)),
            'list': ('ListOSInfo', (opts(distro='debian'),)),
            'detect': ('DetectOSInfo', (iso, opts())),
        }

        def reply(key):
            def ok(*v):
                answers[key] = unwrap(v[0]) if v else None
                if len(answers) + len(errors) == len(calls):
                    loop.quit()

            def err(e):
                errors[key] = e.get_dbus_name()
                if len(answers) + len(errors) == len(calls):
                    loop.quit()
            return ok, err

        # libosinfo is in a module vmgmtd opens with the database (service-scale: an idle vmgmtd has not)
        self.assertNotIn('vmgmt-osinfo.so', self.mapped())
        # all sent before any is answered: the first starts the load, the others wait with it
        for key, (member, args) in calls.items():
            ok, err = reply(key)
            getattr(mgr, member)(*args, reply_handler=ok, error_handler=err, timeout=2 * DEFAULT_TIMEOUT)
        # the loop is not blocked by the load: other calls are answered (whether before or after the load ends)
        self.assertEqual(list(mgr.ListDomains(opts())), [])
        self.define(minimal_domain_xml('while-loading'))
        vmgmt_harness.GLib.timeout_add(int(2 * DEFAULT_TIMEOUT * 1000), loop.quit)
        if len(answers) + len(errors) < len(calls):
            loop.run()
        self.assertEqual(errors, {'unknown': ERR_NO_SUCH_OS})
        self.assertEqual(answers['short'], expected_info(o))
        self.assertEqual(answers['full'], answers['short'])
        self.assertEqual(sorted(e['id'] for e in answers['list']),
                         sorted(x.get_id() for x in osinfo()[1].get_os_list().get_elements() if x.get_distro() == 'debian'))
        self.assertEqual(answers['detect']['id'], o.get_id())
        self.assertEqual(self.daemon.log_text().count('Loaded the OS database'), 1, 'loaded once for all of them')
        self.assertIn('vmgmt-osinfo.so', self.mapped())

    def mapped(self):
        with open('/proc/%d/maps' % self.daemon.pid) as f:
            return {line.split()[-1].rsplit('/', 1)[-1] for line in f if '/' in line}


class EmptyDatabase(VmgmtTestCase):
    """vmgmtd started with libosinfo's paths pointing at an empty directory."""

    def setUp(self):
        self.empty = tempfile.mkdtemp(prefix='vmgmt-osinfo-empty-')
        self.addCleanup(shutil.rmtree, self.empty, True)
        env = {'OSINFO_SYSTEM_DIR': self.empty, 'OSINFO_LOCAL_DIR': os.path.join(self.empty, 'local'),
               'OSINFO_USER_DIR': os.path.join(self.empty, 'user')}
        orig = vmgmt_harness._child_env

        def child_env(extra=None):
            e = orig(extra)
            e.update(env)
            return e
        vmgmt_harness._child_env = child_env
        self.addCleanup(setattr, vmgmt_harness, '_child_env', orig)
        super().setUp()

    def test_clear_error_and_the_rest_works(self):
        msg = self.assertDBusError(ERR_NOT_SUPPORTED, self.manager.GetOSInfo, 'debian11', timeout=DEFAULT_TIMEOUT)
        self.assertIn('osinfo-db', msg)
        msg = self.assertDBusError(ERR_NOT_SUPPORTED, self.manager.ListOSInfo, opts(), timeout=DEFAULT_TIMEOUT)
        self.assertIn('empty or missing', msg)
        path = self.define(minimal_domain_xml('no-osinfo'))
        self.assertEqual([str(p) for p in self.manager.ListDomains(opts())], [path])
        self.assertTrue(self.manager.GetNodeInfo())
        r = run_vmgmtctl(self.fx.bus, 'osinfo-list')
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('osinfo-db', r.stderr)


def _auth():
    from auth_harness import AuthTestCase
    return AuthTestCase


NOBODY_USES_ISOS = '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.vmgmt.storage.use" && subject.user == "nobody" && action.lookup("pool") == "isos")
        return polkit.Result.YES;
});
'''


class Unprivileged(_auth()):
    """uid 65534 through setpriv, with a real polkitd that lets her use the pool `isos`."""

    def test_reads_and_detects_only_what_she_may_read(self):
        o = test_os()
        isos = os.path.join(self.fx.tmp, 'isos')
        os.makedirs(isos)
        os.chmod(isos, 0o755)
        pool = str(self.client.manager.DefinePool(
            "<pool type='dir'><name>isos</name><target><path>%s</path></target></pool>" % isos, opts()))
        self.client.obj(pool).Start(opts(), dbus_interface='org.vmgmt.StoragePool')
        self.fx.write_rule('50-nobody-isos.rules', NOBODY_USES_ISOS)
        readable = make_iso(os.path.join(isos, 'installer.iso'), installer_volume_id(o), self.fx.tmp)
        os.chmod(readable, 0o644)
        private = os.path.join(isos, 'private.iso')
        shutil.copy(readable, private)
        os.chmod(private, 0o600)
        u = self.fx.unprivileged()
        a = u.call('/org/vmgmt', MANAGER_IFACE, 'GetOSInfo', 's', [o.get_short_id()], timeout=DEFAULT_TIMEOUT)
        self.assertTrue(a['ok'], a)
        self.assertEqual(a['result'][0], expected_info(o))
        a = u.call('/org/vmgmt', MANAGER_IFACE, 'ListOSInfo', 'a{sv}', [{'distro': ['s', 'debian']}],
                   timeout=DEFAULT_TIMEOUT)
        self.assertTrue(a['ok'], a)
        self.assertIn(o.get_id(), [e['id'] for e in a['result'][0]])
        # the ISO she may read (in a pool she may use) is detected…
        a = u.call('/org/vmgmt', MANAGER_IFACE, 'DetectOSInfo', 'sa{sv}', [readable, {}], timeout=DEFAULT_TIMEOUT)
        self.assertTrue(a['ok'], a)
        self.assertEqual(a['result'][0]['id'], o.get_id())
        # …root's own copy beside it is not: vmgmtd opened it with her rights
        a = u.call('/org/vmgmt', MANAGER_IFACE, 'DetectOSInfo', 'sa{sv}', [private, {}], timeout=DEFAULT_TIMEOUT)
        self.assertFalse(a['ok'], a)
        self.assertEqual(a['error'], ERR_ACCESS_DENIED, a)
        self.assertIn(private, a['message'])
        # root may
        self.assertEqual(unwrap(self.client.manager.DetectOSInfo(private, opts(), timeout=DEFAULT_TIMEOUT))['id'],
                         o.get_id())


if __name__ == '__main__':
    main()
