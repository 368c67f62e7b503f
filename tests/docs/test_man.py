# The manual pages against what they describe, each read here independently
# of the generators in man/: every page renders without a groff warning;
# vmgmtctl.1 has every command of `vmgmtctl --help` (and of cli/vmgmtctl.c's
# table) with its summary and every option `vmgmtctl help COMMAND` lists,
# and every global option; org.vmgmt.7 every interface, property, method,
# signal and DocString of interfaces/*.xml, every error name of the service
# headers and every polkit action; vmgmtd.conf.5 every key service/manager.c
# accepts (its key tables and the drivers' DRIVER_max_size/_keep), and its
# example is a file vmgmtd accepts; vmgmtd.8 every option of `vmgmtd --help`;
# `meson install` puts them in share/man/man{1,5,7,8}. Needs no bus.
#
# Run: /usr/bin/python3 tests/docs/test_man.py (VMGMT_BUILD_ROOT: the build dir)

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'integration'))

from vmgmt_harness import BUILD_ROOT, SOURCE_ROOT, VMGMTCTL, VMGMTD, main  # noqa: E402

from docs_install import meson_install  # noqa: E402

MAN_DIR = os.path.join(BUILD_ROOT, 'man')
PAGES = ['vmgmtctl.1', 'vmgmtd.conf.5', 'org.vmgmt.7', 'vmgmtd.8']
DOC = 'org.freedesktop.DBus.DocString'


def need(*programs):
    for p in programs:
        if not shutil.which(p):
            raise unittest.SkipTest('%s is not installed (missing: %s)' % (p, p))


def page(name):
    return os.path.join(MAN_DIR, name)


def render(name, width=200):
    """The page as man shows it, as plain text."""
    need('man', 'groff')
    env = dict(os.environ, MANWIDTH=str(width), MAN_KEEP_FORMATTING='', LC_ALL='C.UTF-8')
    r = subprocess.run(['man', '--warnings', '-l', page(name)], capture_output=True, text=True, env=env,
                       timeout=120)
    return r


def plain(text):
    """Rendered text with hyphenation undone, minus signs as '-', one space between words."""
    text = re.sub(r'.\x08', '', text)
    text = text.replace('\u2212', '-')
    text = re.sub(r'\u2010\n\s+', '', text)       # a word hyphenated at the end of a line
    text = re.sub(r'-\n\s+', '-', text)            # a line ending after a hyphen of the text
    text = text.replace('\u2010', '-')
    return ' '.join(text.split())


def norm(text):
    return ' '.join(text.split())


def section(text, title, next_titles=None):
    """Lines of a rendered section: from a line TITLE at column 0 to the next such heading."""
    lines = text.splitlines()
    start = lines.index(title)
    end = next((i for i in range(start + 1, len(lines)) if re.match(r'^[A-Z]', lines[i])), len(lines))
    return lines[start + 1:end]


def help_text(*args):
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS='unix:path=/nonexistent/vmgmt-docs-test')
    r = subprocess.run([VMGMTCTL, *args], capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0:
        raise AssertionError('vmgmtctl %s: %s' % (' '.join(args), r.stderr))
    return r.stdout


def ctl_verbs():
    """Verbs of `vmgmtctl --help`: the first word of each line of its Commands: list."""
    out = help_text('--help')
    block = out[out.index('Commands:\n') + len('Commands:\n'):].split('\n\n')[0]
    return [m.group(1) for m in re.finditer(r'^  ([a-z][a-z0-9-]*)', block, re.M)]


def table_verbs():
    """Verbs of cli/vmgmtctl.c's command table."""
    with open(os.path.join(SOURCE_ROOT, 'cli', 'vmgmtctl.c')) as f:
        src = f.read()
    table = src[src.index('static const Verb verbs[] = {'):]
    table = table[:table.index('\n};')]
    return re.findall(r'\{\s*"([a-z][a-z0-9-]*)",\s*\d+,\s*\d+,', table)


def c_strings(text):
    return re.findall(r'"((?:[^"\\]|\\.)*)"', text)


class Render(unittest.TestCase):
    def test_every_page_renders_without_warnings(self):
        for name in PAGES:
            with self.subTest(page=name):
                self.assertTrue(os.path.exists(page(name)), '%s is not built' % page(name))
                for width in (80, 200):
                    r = render(name, width)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(r.stderr, '', 'man --warnings -l %s (MANWIDTH=%d)' % (name, width))
                    self.assertIn('NAME', r.stdout)
                g = subprocess.run(['groff', '-man', '-Tutf8', '-ww', '-z', page(name)], capture_output=True,
                                   text=True, timeout=120)
                self.assertEqual((g.returncode, g.stderr), (0, ''), 'groff -ww %s' % name)


class Vmgmtctl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = render('vmgmtctl.1')
        cls.text = r.stdout
        lines = section(cls.text, 'COMMANDS')
        # each command's entry starts at the tag indent with the command's name
        cls.entries, verb = {}, None
        for ln in lines:
            m = re.match(r'^ {7}([a-z][a-z0-9-]*)(\s|$)', ln)
            if m:
                verb = m.group(1)
                cls.entries[verb] = []
            if verb:
                cls.entries[verb].append(ln)

    def test_every_command_is_in_the_page(self):
        verbs = ctl_verbs()
        self.assertIn('start', verbs)
        self.assertEqual(sorted(set(table_verbs())), sorted(set(verbs)), 'the help lists the command table')
        self.assertEqual(list(self.entries), verbs, 'COMMANDS lists every command, in the help\'s order')

    def test_every_command_has_its_usage_summary_and_options(self):
        for verb in ctl_verbs():
            with self.subTest(verb=verb):
                out = help_text('help', verb)
                first, rest = out.split('\n\n', 1)
                usage = first[len('vmgmtctl [OPTIONS...] '):]
                summary = rest.split('\n\n')[0]
                options = re.findall(r'^  (--[a-z0-9-]+)', out, re.M)
                entry = plain('\n'.join(self.entries.get(verb, [])))
                self.assertIn(norm(usage), entry)
                self.assertIn(norm(summary), entry)
                for o in options:
                    self.assertRegex(entry, r'Options:.*' + re.escape(o) + r'(?![\w-])')

    def test_every_global_option_is_in_the_page(self):
        out = help_text('--help')
        opts = out[out.index('\nOptions:\n'):]
        names = re.findall(r'(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z](?= ))', opts)
        self.assertIn('--connect', names)
        listed = plain('\n'.join(section(self.text, 'OPTIONS')))
        for name in names:
            with self.subTest(option=name):
                self.assertRegex(listed, re.escape(name) + r'(?![\w-])')

    def test_hand_written_sections(self):
        for title in ('EXIT STATUS', 'ENVIRONMENT', 'EXAMPLES', 'SEE ALSO'):
            self.assertIn(title, self.text.splitlines())
        env = plain('\n'.join(section(self.text, 'ENVIRONMENT')))
        for var in ('VMGMTCTL_PAGER', 'PAGER', 'VISUAL', 'EDITOR', 'DBUS_SYSTEM_BUS_ADDRESS'):
            self.assertRegex(env, r'(?<![\w])' + var + r'(?![\w])')


class DBusApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = render('org.vmgmt.7').stdout
        cls.lines = section(cls.text, 'INTERFACES')
        cls.interfaces = plain('\n'.join(cls.lines))

    def test_every_member_and_docstring(self):
        files = sorted(glob.glob(os.path.join(SOURCE_ROOT, 'interfaces', '*.xml')))
        self.assertGreater(len(files), 5)
        # each interface's text: from its heading (a line of its own at the
        # subsection indent, not a mention in another's text) to the next heading
        names = []
        for f in files:
            names += [i.get('name') for i in ET.parse(f).getroot().findall('interface')]
        heads = [i for i, ln in enumerate(self.lines) if re.match(r'^ {3}\S+$', ln) and ln.strip() in names]
        blocks = {}
        for n, i in enumerate(heads):
            end = heads[n + 1] if n + 1 < len(heads) else len(self.lines)
            blocks[self.lines[i].strip()] = plain('\n'.join(self.lines[i:end]))
        for name in names:
            self.assertIn(name, blocks, 'no section for %s' % name)
        for f in files:
            for iface in ET.parse(f).getroot().findall('interface'):
                name = iface.get('name')
                text = blocks[name]
                for kind in ('property', 'method', 'signal'):
                    for el in iface.findall(kind):
                        with self.subTest(interface=name, member=el.get('name')):
                            if kind == 'property':
                                self.assertIn('%s %s (%s' % (el.get('name'), el.get('type'), el.get('access')),
                                              text)
                            else:
                                args = [a for a in el.findall('arg')]
                                self.assertIn(el.get('name') + '(', text)
                                for a in args:
                                    self.assertIn('%s %s' % (a.get('type'), a.get('name')), text)
                            doc = [a.get('value') for a in el.findall('annotation') if a.get('name') == DOC]
                            self.assertEqual(len(doc), 1, 'no DocString')
                            self.assertIn(norm(doc[0]), text)

    def test_every_error_name(self):
        errors = plain('\n'.join(section(self.text, 'ERRORS')))
        found = set()
        for h in glob.glob(os.path.join(SOURCE_ROOT, 'service', '*.h')):
            with open(h) as f:
                found |= set(re.findall(r'"(org\.vmgmt\.Error\.\w+)"', f.read()))
        self.assertIn('org.vmgmt.Error.NoSuchDomain', found)
        for e in sorted(found):
            with self.subTest(error=e):
                self.assertRegex(errors, r'(?<![\w])' + re.escape(e.rsplit('.', 1)[1]) + r'(?![\w])')
        self.assertIn('org.freedesktop.DBus.Error.AccessDenied', errors)

    def test_every_polkit_action(self):
        actions = plain('\n'.join(section(self.text, 'POLKIT ACTIONS')))
        ids = [a.get('id') for a in ET.parse(os.path.join(SOURCE_ROOT, 'policy', 'org.vmgmt.policy')).getroot()
               .findall('action')]
        self.assertIn('org.vmgmt.storage.use', ids)
        for a in ids:
            with self.subTest(action=a):
                self.assertIn(a, actions)


def manager_keys():
    """({'daemon': [...], 'log': [...]}, driver names) as service/manager.c and the drivers declare them."""
    with open(os.path.join(SOURCE_ROOT, 'service', 'manager.c')) as f:
        src = f.read()
    keys = {}
    for group, table in (('daemon', 'config_daemon_keys'), ('log', 'config_log_keys')):
        m = re.search(r'static const char \*const ' + table + r'\[\] = \{(.*?)\};', src, re.S)
        keys[group] = [k for k in c_strings(m.group(1))]
    with open(os.path.join(SOURCE_ROOT, 'drivers', 'driver-registry.c')) as f:
        ops = re.findall(r'&(\w+),', f.read().split('domain_driver_registry[] = {')[1].split('};')[0])
    drivers = []
    for c in glob.glob(os.path.join(SOURCE_ROOT, 'drivers', '**', '*.c'), recursive=True):
        with open(c) as f:
            s = f.read()
        for o in ops:
            m = re.search(r'DomainDriverOps ' + o + r' = \{.*?\.name = "(\w+)"', s, re.S)
            if m:
                drivers.append(m.group(1))
    return keys, drivers, ops


class Conf(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = render('vmgmtd.conf.5').stdout

    def test_every_key(self):
        keys, drivers, ops = manager_keys()
        self.assertIn('probe_timeout_sec', keys['daemon'])
        self.assertIn('console_keep', keys['log'])
        self.assertEqual(len(drivers), len(ops), 'a name for every registered driver')
        for d in drivers:
            keys['log'] += [d + '_max_size', d + '_keep']
        for group in ('daemon', 'log'):
            text = plain('\n'.join(section(self.text, '[%s] SECTION' % group)))
            for k in keys[group]:
                with self.subTest(group=group, key=k):
                    if k.startswith(tuple(d + '_' for d in drivers)):
                        self.assertRegex(text, r'DRIVER_%s=' % k.split('_', 1)[1])
                    else:
                        self.assertRegex(text, r'(?<![\w])%s=' % k)
                    self.assertRegex(text, r'(?<![\w])%s(?![\w])' % k)

    def test_example_is_accepted(self):
        lines = section(self.text, 'EXAMPLE')
        example = '\n'.join(ln.strip() for ln in lines if ln.strip())
        self.assertIn('[daemon]', example)
        self.assertIn('[log]', example)
        tmp = tempfile.mkdtemp(prefix='vmgmt-docs-')
        self.addCleanup(shutil.rmtree, tmp, True)
        conf = os.path.join(tmp, 'vmgmtd.conf')
        with open(conf, 'w') as f:
            f.write(example + '\n')
        # a bus that is not there: vmgmtd reads the file, then fails to connect
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS='unix:path=' + os.path.join(tmp, 'no-bus'),
                   VMGMT_DEFAULT_NETWORK='0')
        r = subprocess.run([VMGMTD, '--root', os.path.join(tmp, 'root'), '--config', conf], capture_output=True,
                           text=True, env=env, timeout=120)
        self.assertNotIn(conf, r.stderr, 'vmgmtd refused the example')
        self.assertIn('Failed to connect to the system bus', r.stderr)


class Vmgmtd(unittest.TestCase):
    def test_every_option(self):
        r = subprocess.run([VMGMTD, '--help'], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        names = re.findall(r'^\s+(?:(-\w) )?\s*(--[a-z][a-z0-9-]*)', r.stdout, re.M)
        flat = [n for pair in names for n in pair if n]
        self.assertIn('--root', flat)
        text = render('vmgmtd.8').stdout
        opts = plain('\n'.join(section(text, 'OPTIONS')))
        for n in flat:
            with self.subTest(option=n):
                self.assertRegex(opts, r'(?<![\w-])' + re.escape(n) + r'(?![\w-])')
        for title in ('FILES', 'SIGNALS', 'CONFINEMENT', 'POLKIT ACTIONS', 'BUS NAME', 'SEE ALSO'):
            self.assertIn(title, text.splitlines())


class Install(unittest.TestCase):
    def test_installed_in_share_man(self):
        dest, opts = meson_install(self, 'man')
        found = sorted(os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest) for f in fs)
        mandir = os.path.join(opts['prefix'], opts['mandir']).lstrip('/')
        want = sorted(os.path.join(mandir, 'man' + p.rsplit('.', 1)[1], p) for p in PAGES)
        for w in want:
            self.assertIn(w, found)
        for w in want:
            with open(os.path.join(dest, w)) as a, open(page(os.path.basename(w))) as b:
                self.assertEqual(a.read(), b.read())


if __name__ == '__main__':
    main()
