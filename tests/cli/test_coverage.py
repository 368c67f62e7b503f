# Every D-Bus method vmgmt offers and every vmgmtctl verb and option has a test
# that calls it. The lists of what exists come from the project itself: the
# methods from interfaces/*.xml and from the live introspection of each object
# kind a running vmgmtd serves (manager, domain, network, pool, volume, job);
# the verbs and options from vmgmtctl's command table (cli/vmgmtctl.c), checked
# against `vmgmtctl --help`. What "a test calls it" means is a static scan of
# tests/**/*.py (this file excluded) for actual call forms (see CallScan):
#
#   D-Bus: PROXY.Method(...) where PROXY resolves to an interface (a
#          dbus.Interface(_, IFACE), a helper that returns one such as
#          self.dom()/self.pool()/client.manager, or a local bound to one), or
#          any call whose positional arguments are (..., IFACE, 'Method', ...)
#          (client.call, conn.call_blocking, the auth helpers' u.call), or a
#          `busctl ... call ... IFACE Method` argv. A PROXY.Method(...) whose
#          interface cannot be resolved counts only for a method name that
#          exactly one interface has (Start, GetXML, Delete... need the interface).
#   verbs: a call of a vmgmtctl runner (run_vmgmtctl, and every test helper
#          that forwards *args to one or builds an argv from VMGMTCTL + *args:
#          ctl, ok, fails, ...) or an argv list holding VMGMTCTL; its string
#          arguments name the verb (a loop variable over constant strings counts
#          for each of them) and the options (`--name`, `--name=VALUE`, and
#          format strings starting so); an option counts for the verb of the
#          same invocation (the global ones for any).
#
# Run: /usr/bin/python3 tests/cli/test_coverage.py

import ast
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'integration'))

import dbus  # noqa: E402

from vmgmt_harness import (SOURCE_ROOT, VMGMTCTL, VmgmtTestCase, main,  # noqa: E402
                           minimal_domain_xml, opts)

TESTS_DIR = os.path.join(SOURCE_ROOT, 'tests')
INTERFACES_DIR = os.path.join(SOURCE_ROOT, 'interfaces')
VMGMTCTL_C = os.path.join(SOURCE_ROOT, 'cli', 'vmgmtctl.c')
THIS_FILE = os.path.realpath(os.path.abspath(__file__))

# Members that truly cannot be called by a test, each with the reason. Keep short.
EXEMPT_METHODS = set()    # none: the unserved ones are called by tests/service/test_unserved.py
EXEMPT_OPTIONS = set()    # none (-M/--machine is run, to its error: no container here)

# Global options of vmgmtctl (parse_argv/global_long_option in cli/vmgmtctl.c),
# with their short forms.
GLOBAL_SHORT = {'h': 'help', 'H': 'host', 'M': 'machine'}


# ------------------------------------------------------------ what exists

def interface_methods_from_files():
    """{interface: set(method)} of interfaces/*.xml."""
    out = {}
    for f in sorted(os.listdir(INTERFACES_DIR)):
        if f.endswith('.xml'):
            root = ET.parse(os.path.join(INTERFACES_DIR, f)).getroot()
            for i in root.iter('interface'):
                out.setdefault(i.get('name'), set()).update(m.get('name') for m in i.findall('method'))
    return out


def interface_methods_from_xml(text):
    out = {}
    for i in ET.fromstring(text).iter('interface'):
        if i.get('name').startswith('org.vmgmt.'):
            out.setdefault(i.get('name'), set()).update(m.get('name') for m in i.findall('method'))
    return out


def _c_strings(text):
    return re.findall(r'"((?:[^"\\]|\\.)*)"', text)


def vmgmtctl_verbs():
    """{verb: set(option names)} from the verbs[] table of cli/vmgmtctl.c, and
    the set of global long options."""
    with open(VMGMTCTL_C) as f:
        src = f.read()
    table = src[src.index('static const Verb verbs[] = {'):]
    table = table[:table.index('\n};')]
    verbs = {}
    # each entry: { "name", MIN, MAX, { "opt", ... }, run, "synopsis", "summary" },
    for m in re.finditer(r'\{\s*"([a-z-]+)",\s*\d+,\s*\d+,\s*\{([^}]*)\}', table):
        verbs[m.group(1)] = {o.split('=', 1)[0] for o in _c_strings(m.group(2))}
    glob = src[src.index('static int global_long_option('):]
    glob = glob[:glob.index('\n}\n')]
    globals_ = set(re.findall(r'streq\(name, "([a-z-]+)"\)', glob))
    return verbs, globals_


# ------------------------------------------------------------ what tests call

def _const_str(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _str_prefix(node):
    """The constant text an expression's string starts with: 'a', 'a%d' % x,
    f'a{x}', 'a' + x."""
    s = _const_str(node)
    if s is not None:
        return s
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return _str_prefix(node.left)
    if isinstance(node, ast.JoinedStr) and node.values:
        return _const_str(node.values[0])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == 'format':
        return _const_str(node.func.value)
    return None


def _callee_name(func):
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _parents(tree):
    par = {}
    for n in ast.walk(tree):
        for c in ast.iter_child_nodes(n):
            par[c] = n
    return par


class CallScan:
    """The static scan of tests/ described at the top of this file."""

    def __init__(self, tests_dir, interfaces, verbs, global_options):
        self.interfaces = interfaces            # {iface: set(method)}
        self.verbs = verbs                      # {verb: set(option)}
        self.global_options = global_options
        self.files = {}
        for d, _, fs in os.walk(tests_dir):
            for f in sorted(fs):
                p = os.path.join(d, f)
                if f.endswith('.py') and os.path.realpath(p) != THIS_FILE:
                    with open(p) as fh:
                        self.files[p] = ast.parse(fh.read(), p)
        self.parents = {p: _parents(t) for p, t in self.files.items()}
        self.consts = self._module_constants()
        self.method_owner = {}
        for iface, ms in interfaces.items():
            for m in ms:
                self.method_owner.setdefault(m, set()).add(iface)
        self.factories = self._learn_factories()
        self.runners = self._learn_runners()
        self.called_methods = {}   # (iface, method) -> [where]
        self.called_verbs = {}     # verb -> [where]
        self.called_options = {}   # (verb or '', option) -> [where]
        for p, t in self.files.items():
            self._scan(p, t)

    # ---- name resolution
    def _module_constants(self):
        """NAME = 'string' at module level in any test file (interface names
        like NET_IFACE are shared through imports)."""
        out = {}
        for t in self.files.values():
            for n in t.body:
                if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
                    s = _const_str(n.value)
                    if s is not None:
                        out.setdefault(n.targets[0].id, s)
        return out

    def _string(self, node):
        s = _const_str(node)
        if s is None and isinstance(node, ast.Name):
            s = self.consts.get(node.id)
        return s

    def _iface_of_string(self, node):
        s = self._string(node)
        return s if s in self.interfaces else None

    def _learn_factories(self):
        """Helpers (functions, methods, properties) returning a proxy of a fixed
        interface: `return dbus.Interface(x, IFACE)` or `return other_factory(...)`."""
        fac = {}
        changed = True
        while changed:
            changed = False
            for t in self.files.values():
                for fn in ast.walk(t):
                    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or fn.name in fac:
                        continue
                    for r in ast.walk(fn):
                        if isinstance(r, ast.Return) and r.value is not None:
                            i = self._iface_of_expr(r.value, fac, {})
                            if i:
                                fac[fn.name] = i
                                changed = True
                                break
        return fac

    def _iface_of_expr(self, node, fac, local):
        """The org.vmgmt interface a proxy expression is, or None."""
        if isinstance(node, ast.Call):
            name = _callee_name(node.func)
            if name == 'Interface' and len(node.args) >= 2:
                return self._iface_of_string(node.args[1])
            if name == 'obj' and len(node.args) >= 2:     # storsvc's self.obj(path, IFACE)
                return self._iface_of_string(node.args[1])
            return fac.get(name)
        if isinstance(node, ast.Attribute):
            return fac.get(node.attr)                    # properties: client.manager
        if isinstance(node, ast.Name):
            return local.get(node.id)
        return None

    def _locals(self, fn, path):
        """{name: iface} of simple assignments `x = PROXY` in a function."""
        out = {}
        for n in ast.walk(fn):
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
                i = self._iface_of_expr(n.value, self.factories, out)
                if i:
                    out[n.targets[0].id] = i
            elif isinstance(n, ast.With):
                for item in n.items:
                    if isinstance(item.optional_vars, ast.Name):
                        i = self._iface_of_expr(item.context_expr, self.factories, out)
                        if i:
                            out[item.optional_vars.id] = i
        return out

    def _learn_runners(self):
        """Functions taking *args that run vmgmtctl with them: they build an
        argv from VMGMTCTL, or pass *args on to another runner. A class whose
        __init__ is one is a runner too. {name: {file: [constant argv nodes the
        runner adds itself]}}."""
        runners = {'run_vmgmtctl': {None: []}}
        changed = True
        while changed:
            changed = False
            for path, t in self.files.items():
                for cls in [None] + [n for n in ast.walk(t) if isinstance(n, ast.ClassDef)]:
                    body = t.body if cls is None else cls.body
                    for fn in (ast.walk(t) if cls is None else body):
                        if not isinstance(fn, ast.FunctionDef) or not fn.args.vararg:
                            continue
                        name = cls.name if cls is not None and fn.name == '__init__' else fn.name
                        if cls is None and fn.name == '__init__':
                            continue
                        if path in runners.get(name, {}):
                            continue
                        prefix = self._runner_prefix(fn, runners)
                        if prefix is not None:
                            runners.setdefault(name, {})[path] = prefix
                            changed = True
        return runners

    def _runner_prefix(self, fn, runners):
        """The constant arguments a function adds to the argv it runs with its
        *args, or None if it does not run vmgmtctl with them."""
        va = fn.args.vararg.arg

        def passes_args(nodes):
            return any(isinstance(x, ast.Name) and x.id == va for a in nodes for x in ast.walk(a))

        for n in ast.walk(fn):
            if isinstance(n, ast.Call) and _callee_name(n.func) in runners and passes_args(n.args):
                return [a for a in n.args if _const_str(a) is not None]
        # [..., VMGMTCTL, 'verb'] + list(args) and the like
        if passes_args(fn.body):
            for n in ast.walk(fn):
                if isinstance(n, ast.List):
                    exe = [i for i, e in enumerate(n.elts) if isinstance(e, ast.Name) and e.id == 'VMGMTCTL']
                    if exe:
                        return [a for a in n.elts[exe[0] + 1:] if _const_str(a) is not None]
        return None

    def _runner_call(self, path, name):
        defs = self.runners.get(name)
        if not defs:
            return None
        if path in defs:
            return defs[path]
        return next(iter(defs.values()))

    # ---- the scan
    def _enclosing_function(self, path, node):
        par = self.parents[path]
        while node in par:
            node = par[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
        return None

    def _loop_values(self, path, node, name):
        """Constant strings a loop variable `name` takes in a `for` or
        comprehension around `node` (iterating a literal tuple/list)."""
        par = self.parents[path]
        out = []
        n = node
        while n in par:
            n = par[n]
            gens = []
            if isinstance(n, ast.For):
                gens = [(n.target, n.iter)]
            elif isinstance(n, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                gens = [(g.target, g.iter) for g in n.generators]
            for target, it in gens:
                if not isinstance(it, (ast.Tuple, ast.List)):
                    continue
                for elt in it.elts:
                    if isinstance(target, ast.Name) and target.id == name:
                        s = _const_str(elt)
                        if s is not None:
                            out.append(s)
                    elif isinstance(target, ast.Tuple) and isinstance(elt, (ast.Tuple, ast.List)):
                        for t_el, v_el in zip(target.elts, elt.elts):
                            if isinstance(t_el, ast.Name) and t_el.id == name and _const_str(v_el) is not None:
                                out.append(_const_str(v_el))
        return out

    def _note(self, table, key, where):
        table.setdefault(key, []).append(where)

    def _scan(self, path, tree):
        rel = os.path.relpath(path, TESTS_DIR)
        local_cache = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                where = '%s:%d' % (rel, node.lineno)
                self._scan_dbus_call(path, node, where, local_cache)
                prefix = self._runner_call(path, _callee_name(node.func))
                if prefix is not None:
                    self._scan_argv(path, node, prefix + list(node.args), where)
            elif isinstance(node, ast.List):
                exe = [i for i, e in enumerate(node.elts)
                       if (isinstance(e, ast.Name) and e.id == 'VMGMTCTL') or _const_str(e) == 'vmgmtctl']
                if exe:
                    self._scan_argv(path, node, node.elts[exe[0] + 1:], '%s:%d' % (rel, node.lineno))
                strs = [_const_str(e) for e in node.elts]
                if 'busctl' in strs and 'call' in strs:
                    self._scan_busctl(strs, node, '%s:%d' % (rel, node.lineno))

    def _scan_dbus_call(self, path, node, where, local_cache):
        # PROXY.Method(...)
        if isinstance(node.func, ast.Attribute) and node.func.attr in self.method_owner:
            m = node.func.attr
            fn = self._enclosing_function(path, node)
            if fn not in local_cache:
                local_cache[fn] = self._locals(fn, path) if fn else {}
            iface = self._iface_of_expr(node.func.value, self.factories, local_cache[fn])
            owners = self.method_owner[m]
            if iface in owners:
                self._note(self.called_methods, (iface, m), where)
            elif iface is None and len(owners) == 1:
                self._note(self.called_methods, (next(iter(owners)), m), where)
        # call(..., IFACE, 'Method', ...)
        args = node.args
        for k in range(len(args) - 1):
            iface = self._iface_of_string(args[k])
            if iface:
                m = self._string(args[k + 1])
                if m in self.interfaces[iface]:
                    self._note(self.called_methods, (iface, m), where)

    def _scan_busctl(self, strs, node, where):
        for k in range(len(strs) - 1):
            if strs[k] in self.interfaces and strs[k + 1] in self.interfaces[strs[k]]:
                self._note(self.called_methods, (strs[k], strs[k + 1]), where)

    def _scan_argv(self, path, node, args, where):
        verbs, options = [], []
        for a in args:
            if isinstance(a, ast.Starred):
                continue
            s = _const_str(a)
            if s is not None:
                if s in self.verbs:
                    verbs.append(s)
                elif s.startswith('-'):
                    options.append(s)
                continue
            if isinstance(a, ast.Name):
                values = self._loop_values(path, node, a.id)
                vs = [v for v in values if v in self.verbs]
                if vs:
                    verbs.append(vs)
                options += [v for v in values if v.startswith('-')]
                continue
            p = _str_prefix(a)
            if p and p.startswith('-'):
                options.append(p)
        if not verbs:
            verb_set = []
        else:
            verb_set = verbs[0] if isinstance(verbs[0], list) else [verbs[0]]
        for v in verb_set:
            self._note(self.called_verbs, v, where)
        for o in options:
            if o.startswith('--'):
                name = o[2:].split('=', 1)[0]
            elif len(o) >= 2 and o[1] in GLOBAL_SHORT:
                name = GLOBAL_SHORT[o[1]]
            else:
                continue
            if name in self.global_options:
                self._note(self.called_options, ('', name), where)
            for v in verb_set:
                if name in self.verbs[v]:
                    self._note(self.called_options, (v, name), where)


class Coverage(VmgmtTestCase):
    shared_daemon = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        verbs, globals_ = vmgmtctl_verbs()
        cls.verbs, cls.global_options = verbs, globals_

    def introspect(self, path):
        return str(dbus.Interface(self.client.obj(path), 'org.freedesktop.DBus.Introspectable').Introspect())

    def live_interfaces(self):
        """{iface: set(method)} served by one object of each kind."""
        pools = os.path.join(self.fx.tmp, 'pools')
        os.makedirs(pools)
        dom = self.define(minimal_domain_xml('cov'))
        net = self.manager.DefineNetwork(
            "<network><name>cov</name><bridge name='vmgcov0'/>"
            "<ip address='10.231.0.1' netmask='255.255.255.0'/></network>", opts())
        pool = self.manager.DefinePool(
            "<pool type='dir'><name>cov</name><target><path>%s</path></target></pool>"
            % os.path.join(pools, 'cov'), opts())
        p = dbus.Interface(self.client.obj(pool), 'org.vmgmt.StoragePool')
        p.Build(opts())
        p.Start(opts())
        vol = p.CreateVolume("<volume><name>v.raw</name><capacity unit='M'>1</capacity>"
                             "<target><format type='raw'/></target></volume>", opts())
        # a job object stays for a while (job_linger_sec) after its copy ended
        job = p.CloneVolume("<volume><name>w.raw</name><capacity unit='M'>1</capacity></volume>", vol, opts())
        served = {}
        for path in ('/org/vmgmt', dom, net, pool, vol, job):
            for i, ms in interface_methods_from_xml(self.introspect(str(path))).items():
                served.setdefault(i, set()).update(ms)
        self.assertEqual(set(served), {'org.vmgmt.Manager', 'org.vmgmt.Domain', 'org.vmgmt.Network',
                                       'org.vmgmt.StoragePool', 'org.vmgmt.StorageVolume', 'org.vmgmt.Job'})
        return served

    def all_methods(self):
        files = interface_methods_from_files()
        live = self.live_interfaces()
        for i, ms in live.items():
            self.assertTrue(ms <= files.get(i, set()), '%s serves methods not in interfaces/: %s'
                            % (i, sorted(ms - files.get(i, set()))))
        return files

    def test_help_lists_every_verb(self):
        # the table this test reads is the one vmgmtctl runs
        r = subprocess.run([VMGMTCTL, '--help'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
        listed = set(re.findall(r'^  ([a-z][a-z-]*)(?= |$)', r.stdout.decode(), re.M))
        self.assertEqual(listed, set(self.verbs))
        self.assertGreater(len(self.verbs), 60)
        for o in ('system', 'user', 'host', 'machine', 'json', 'no-ask-password', 'help', 'version'):
            self.assertIn(o, self.global_options)
            self.assertIn('--' + o, r.stdout.decode())

    def test_every_method_is_called(self):
        methods = self.all_methods()
        scan = CallScan(TESTS_DIR, methods, self.verbs, self.global_options)
        missing = sorted('%s.%s' % k for k in ((i, m) for i, ms in methods.items() for m in ms)
                         if k not in scan.called_methods and k not in EXEMPT_METHODS)
        self.assertEqual(missing, [], 'D-Bus methods no test calls')
        stale = sorted('%s.%s' % k for k in EXEMPT_METHODS
                       if k in scan.called_methods or k[1] not in methods.get(k[0], ()))
        self.assertEqual(stale, [], 'exempt methods that are called (or gone): drop them from EXEMPT_METHODS')

    def test_every_verb_and_option_is_run(self):
        scan = CallScan(TESTS_DIR, interface_methods_from_files(), self.verbs, self.global_options)
        missing = sorted(v for v in self.verbs if v not in scan.called_verbs)
        wanted = {(v, o) for v, os_ in self.verbs.items() for o in os_} | \
                 {('', o) for o in self.global_options}
        missing += sorted('%s --%s' % (v or '(global)', o) for v, o in wanted
                          if (v, o) not in scan.called_options and (v, o) not in EXEMPT_OPTIONS)
        self.assertEqual(missing, [], 'vmgmtctl verbs and options no test runs')
        stale = sorted(k for k in EXEMPT_OPTIONS if k in scan.called_options or k not in wanted)
        self.assertEqual(stale, [], 'exempt options that are used (or gone): drop them from EXEMPT_OPTIONS')

    def test_scan_sees_call_forms(self):
        # the scanner itself: each call form counts, for its own interface only
        src = '''
import dbus
NET = 'org.vmgmt.Network'
class T:
    def net(self, p):
        return dbus.Interface(self.client.obj(p), NET)
    def ctl(self, *args):
        return run_vmgmtctl(self.bus, *args)
    def ok(self, *args):
        return self.ctl(*args)
    def t(self):
        n = self.net('/x')
        n.Start({})
        self.client.manager.GetNodeInfo()
        self.client.call('/p', 'org.vmgmt.StoragePool', 'Refresh', 'a{sv}', {})
        unknown.Stop({})
        unknown.Resize(1, {})
        self.ok('vol-resize', 'v', '2M', '--delta', '--pool=p')
        for verb in ('suspend', 'resume'):
            self.ctl(verb, 'd')
        subprocess.run([VMGMTCTL, '--json=short', 'pool-list', '--details'])
'''
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, 't.py'), 'w') as f:
                f.write(src)
            s = CallScan(d, interface_methods_from_files(), self.verbs, self.global_options)
        self.assertEqual(sorted(s.called_methods), [
            ('org.vmgmt.Manager', 'GetNodeInfo'), ('org.vmgmt.Network', 'Start'),
            ('org.vmgmt.StoragePool', 'Refresh'), ('org.vmgmt.StorageVolume', 'Resize')])
        self.assertEqual(sorted(s.called_verbs), ['pool-list', 'resume', 'suspend', 'vol-resize'])
        self.assertEqual(sorted(s.called_options), [('', 'json'), ('pool-list', 'details'),
                                                    ('vol-resize', 'delta'), ('vol-resize', 'pool')])


if __name__ == '__main__':
    main()
